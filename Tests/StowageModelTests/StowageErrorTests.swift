import StowageModel
import Testing

@Suite("StowageError")
struct StowageErrorTests {
    @Test("description appends the cause; equality ignores the location; prefixed keeps the code")
    func basics() {
        let plain = StowageError(.notFound, "no image named 'x'")
        #expect(plain.description == "no image named 'x'")
        let caused = StowageError(.io, "cannot open /a", cause: "Permission denied")
        #expect(caused.description == "cannot open /a: Permission denied")
        #expect(StowageError(.io, "m", cause: "").description == "m")
        let here = StowageError(.conflict, "m")
        let there = StowageError(.conflict, "m")
        #expect(here.location != there.location)
        #expect(here == there)
        #expect(here != StowageError(.usage, "m"))
        #expect(here != StowageError(.conflict, "m", cause: "c"))
        let prefixed = caused.prefixed("ARCHIVE")
        #expect(prefixed.code == .io)
        #expect(prefixed.message == "ARCHIVE: cannot open /a")
        #expect(prefixed.cause == "Permission denied")
        #expect(plain.location.contains("StowageErrorTests.swift"))
    }
}
