// Writes the unit-test vectors as libFuzzer seed files: `<dir>/record/` gets every TXT record vector and
// every RRset vector (its records joined with 0x00, the separator FuzzRecord splits on), `<dir>/policy/`
// every policy vector. Compiled by scripts/fuzz.sh with Sources/MTASTSCore/*.swift and
// Tests/MTASTSCoreTests/Vectors/{Record,Policy}Vectors.swift (plain data files, no imports).
//
// Usage: seed-writer <dir>

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    fputs("usage: \(arguments[0]) <corpus-dir>\n", stderr)
    exit(2)
}
let root = arguments[1]

func makeDirectory(_ path: String) {
    if mkdir(path, 0o755) != 0 && errno != EEXIST {
        fputs("seed-writer: cannot create \(path): \(String(cString: strerror(errno)))\n", stderr)
        exit(1)
    }
}

func write(_ bytes: [UInt8], to path: String) {
    guard let file = fopen(path, "wb") else {
        fputs("seed-writer: cannot open \(path): \(String(cString: strerror(errno)))\n", stderr)
        exit(1)
    }
    let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
    guard written == bytes.count, fclose(file) == 0 else {
        fputs("seed-writer: cannot write \(path)\n", stderr)
        exit(1)
    }
}

func name(_ prefix: String, _ index: Int) -> String {
    let digits = String(index)
    return prefix + "-" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
}

makeDirectory(root)
makeDirectory(root + "/record")
makeDirectory(root + "/policy")

for (i, vector) in recordVectors.enumerated() {
    write(Array(vector.text.utf8), to: root + "/record/" + name("seed-record", i))
}
for (i, vector) in rrsetVectors.enumerated() {
    let joined = Array(vector.records.map { Array($0.utf8) }.joined(separator: [0]))
    write(joined, to: root + "/record/" + name("seed-rrset", i))
}
for (i, vector) in policyVectors.enumerated() {
    write(Array(vector.text.utf8), to: root + "/policy/" + name("seed-policy", i))
}
print("seed-writer: \(recordVectors.count) record + \(rrsetVectors.count) RRset seeds in \(root)/record, "
      + "\(policyVectors.count) policy seeds in \(root)/policy")
