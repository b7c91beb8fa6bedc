import Foundation
import RegistryTestSupport
import StowageModel
import StowageTestSupport
import Testing

/// The weekly air-gap loop of the user guide, two weeks of it, against real registries:
/// mirror from a source registry, carry a full export (week 1) or a delta against the far
/// side's inventory (week 2), import, verify, sync to two registries, read back with skopeo.
@Suite struct AirGapLoopTests {
    let directory = TemporaryDirectory()

    func stowage(_ arguments: [String]) throws -> CommandResult {
        try StowageBinary.run(arguments, environment: ["STOWAGE_RETRY_DELAY": "0.05"])
    }

    @discardableResult
    func succeed(_ arguments: [String]) throws -> CommandResult {
        let result = try stowage(arguments)
        #expect(result.status == 0, "stowage \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }

    func images(_ count: Int, version: Int) -> [(image: TestImage, refName: String?)] {
        let base = pseudoRandomBytes(60_000, seed: 7)
        return (0..<count).map { n in
            (TestImage.make(layers: [base, pseudoRandomBytes(4_000, seed: UInt64(1000 * version + n))]), "team/svc\(n):v1.\(version).0")
        }
    }

    @Test func twoWeeksOfTheLoopCarryOnlyWhatChanged() throws {
        let upstream = try RegistryServer.started(.http)
        let siteA = try RegistryServer.started(.http)
        let siteB = try RegistryServer.started(.basicAuth(user: "site", password: "pw", tls: nil))
        let builds = directory.child("builds")
        let near = directory.child("near")
        let far = directory.child("far")
        let carry = directory.child("carry")
        try FileManager.default.createDirectory(atPath: carry, withIntermediateDirectories: true)
        // The far side's credentials for site B live in an auth file, per host.
        let authFile = directory.child("auth.json")
        try #"{"auths":{"\#(siteB.host)":{"auth":"\#(Data("site:pw".utf8).base64EncodedString())"}}}"#
            .write(toFile: authFile, atomically: true, encoding: .utf8)

        func publish(version: Int) throws {
            let archive = directory.child("week\(version).tar")
            try ArchiveBuilder.ociArchive(images(3, version: version)).write(to: archive)
            try succeed(["import", "--layout", builds, archive])
            for n in 0..<3 {
                try succeed(["push", "--layout", builds, "--tls-verify=false", "team/svc\(n):v1.\(version).0", "\(upstream.host)/team/svc\(n):v1.\(version).0"])
            }
        }
        let set = directory.child("site.yaml")
        try """
            name: site
            registries:
              - host: \(upstream.host)
                tls-verify: false
                repositories:
            \((0..<3).map { "      - name: team/svc\($0)\n        latest: 1" }.joined(separator: "\n"))
            """.write(toFile: set, atomically: true, encoding: .utf8)

        func carryAcross(week: Int, delta: Bool) throws -> [String] {
            try succeed(["mirror", "--layout", near, "--prune", set])
            try succeed(["gc", "--layout", near, "--grace", "0s"])
            let archive = "\(carry)/week\(week).tar"
            var export = ["export", "--layout", near, "-o", archive, "--json"]
            if delta { export += ["--exclude-present", "\(carry)/far-inventory.json"] }
            try succeed(export)
            try succeed(["import", "--layout", far, "--dry-run", archive])
            try succeed(["import", "--layout", far, archive])
            try succeed(["verify", "--layout", far])
            try succeed(["sync", "--layout", far, "--tls-verify=false", "--authfile", authFile, siteA.host, siteB.host])
            try succeed(["inventory", "--layout", far, "-o", "\(carry)/far-inventory.json"])
            let listed = try Command.run("tar", ["-tf", archive])
            return listed.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("blobs/sha256/") && $0.count > 13 }
        }

        try publish(version: 1)
        let week1 = try carryAcross(week: 1, delta: false)
        #expect(week1.count == 10, "a shared base, 3 top layers, 3 configs, 3 manifests: \(week1)")

        // Week 2: every service gets a new release on the same base.
        try publish(version: 2)
        let week2 = try carryAcross(week: 2, delta: true)
        #expect(week2.count == 9, "the new top layers, configs and manifests; not the base the far side has: \(week2)")

        // Both site registries serve week 2's releases byte for byte as upstream does (sync
        // drops the upstream host from the names).
        for n in 0..<3 {
            let name = "team/svc\(n):v1.2.0"
            let source = try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(upstream.host)/\(name)"])
            #expect(source.status == 0, "\(source.stderr)")
            for (site, flags) in [(siteA, ["--tls-verify=false"]), (siteB, ["--tls-verify=false", "--creds", "site:pw"])] {
                let served = try Command.run("skopeo", ["inspect", "--raw"] + flags + ["docker://\(site.host)/\(name)"])
                #expect(served.status == 0, "\(site.host): \(served.stderr)")
                #expect(served.stdoutBytes == source.stdoutBytes, "\(site.host) serves \(name) as upstream does")
            }
        }
        let nearNames = try stowage(["ls", "--layout", near, "-q"]).stdout
        #expect(nearNames == (0..<3).map { "\(upstream.host)/team/svc\($0):v1.2.0\n" }.joined(), "latest: 1 with --prune keeps this week's only: \(nearNames)")
        let skopeoFar = try Command.run("skopeo", ["inspect", "--raw", "oci:\(far):\(upstream.host)/team/svc1:v1.2.0"])
        #expect(skopeoFar.status == 0, "skopeo reads the far layout: \(skopeoFar.stderr)")
    }
}
