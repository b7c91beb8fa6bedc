import Foundation
import RegistryTestSupport
import StowageTestSupport
import Testing

/// `scripts/demo`, the README's first command, runs the main job end to end and exits 0
/// when it succeeds (its cleanup once returned the registry's SIGTERM status, 143).
@Suite struct DemoScriptTests {
    @Test func theDemoSucceedsAndSaysSo() throws {
        try #require(RegistryServer.isAvailable, "docker-registry is not installed")
        let result = try Command.run("\(Fixtures.repositoryRoot)/scripts/demo", [], environment: ["STOWAGE": StowageBinary.path])
        #expect(result.status == 0, "scripts/demo exited \(result.status): \(result.stderr.suffix(2000))")
        #expect(result.stdout.hasSuffix("demo: OK\n"), "\(result.stdout.suffix(500))")
        #expect(result.stdout.contains("the registry holds the exact bytes of the layout's index"))
    }
}
