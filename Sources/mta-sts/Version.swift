/// What `mta-sts --version` prints. A plain source build says 0.0.0-dev; scripts/package.sh builds the package
/// from a copy of the tree in which this line names the package version from `git describe`, so the version
/// printed is always the package's and the work tree stays clean (docs/packaging.md: the version scheme).
let mtastsVersion = "0.0.0-dev"
