import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
@testable import PostfixSocketmap

@Suite("Netstring codec")
struct NetstringTests {
    func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    @Test("Frames decode whole, byte by byte and in any split (ByteToMessageDecoderVerifier)")
    func verifier() throws {
        let pairs: [(ByteBuffer, [ByteBuffer])] = [
            (buffer("19:postfix example.com,"), [buffer("postfix example.com")]),
            (buffer("0:,3:a b,"), [buffer(""), buffer("a b")]),
            (buffer("007:postfix,"), [buffer("postfix")]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs, decoderFactory: { NetstringDecoder() })
    }

    @Test("Malformed input is a typed error", arguments: [
        ("x:abc,", NetstringError.badLength(UInt8(ascii: "x"))),
        (":abc,", NetstringError.badLength(UInt8(ascii: ":"))),
        ("3:abcd", NetstringError.missingComma),
        ("10001:", NetstringError.tooLong(10_000)),
        ("999999999999999999999:", NetstringError.tooLong(10_000)),
    ])
    func errors(_ input: String, _ expected: NetstringError) {
        var decoder = NetstringDecoder()
        var b = buffer(input)
        #expect(throws: expected) { _ = try decoder.decode(buffer: &b) }
    }

    @Test("A frame cut off by the end of input is reported")
    func truncated() {
        var decoder = NetstringDecoder()
        var b = buffer("5:ab")
        #expect(throws: NetstringError.truncated(4)) { _ = try decoder.decodeLast(buffer: &b, seenEOF: true) }
    }

    @Test("Replies are framed exactly as Postfix expects")
    func replies() {
        #expect(String(buffer: SocketmapReply.notFound.frame) == "9:NOTFOUND ,")
        #expect(String(buffer: SocketmapReply.ok("secure match=.example.net").frame) == "28:OK secure match=.example.net,")
        #expect(String(buffer: SocketmapReply.temp("x").frame) == "6:TEMP x,")
        #expect(SocketmapRequest(buffer("postfix Example.COM"))?.key == "Example.COM")
        #expect(SocketmapRequest(buffer("postfix Example.COM"))?.name == "postfix")
        #expect(SocketmapRequest(buffer("nospace")) == nil)
    }
}
