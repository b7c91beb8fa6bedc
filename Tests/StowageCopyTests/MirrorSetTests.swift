import StowageCopy
import StowageModel
import StowageRegistry
import Testing

@Suite struct MirrorSetTests {
    func parse(_ yaml: String, defaults: RegistryOptions = RegistryOptions()) throws -> MirrorSet {
        try MirrorSet(yaml: yaml, file: "/sets/addons.yaml", defaults: defaults)
    }

    /// The message of the error parsing `yaml` throws.
    func failure(_ yaml: String) -> String {
        do {
            _ = try parse(yaml)
            return "(parsed)"
        } catch let error as StowageError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    let full = """
        name: k8s-addons
        platforms: [linux/amd64, linux/arm64]
        registries:
          - host: registry.k8s.io
            repositories:
              - name: ingress-nginx/controller
                tags: [v1.10.1, "v1.9.*"]
                semver: ">=1.8 <2"
                latest: 2
              - name: pause
                digests: [sha256:\(String(repeating: "a", count: 64))]
                platforms: linux/amd64
          - host: quay.io
            tls-verify: false
            authfile: secrets/quay.json
            creds: robot:token
            retry-times: 7
            repositories:
              - name: jetstack/cert-manager-controller
                regex: '^v1\\.14\\.[0-9]+$'
                referrers: false
        """

    @Test func aFullSetReadsAsWritten() throws {
        var defaults = RegistryOptions()
        defaults.jobs = 9
        let set = try parse(full, defaults: defaults)
        #expect(set.name == "k8s-addons")
        #expect(set.registries.map(\.host) == ["registry.k8s.io", "quay.io"])
        let k8s = set.registries[0]
        #expect(k8s.options.tlsVerify && k8s.options.authFile == nil && k8s.options.jobs == 9)
        let controller = k8s.repositories[0]
        #expect(controller.name == "ingress-nginx/controller")
        #expect(controller.tags.exact == ["v1.10.1"])
        #expect(controller.tags.globs.map(\.pattern) == ["v1.9.*"])
        #expect(controller.tags.semver?.range.description == ">=1.8 <2")
        #expect(controller.tags.latest?.count == 2)
        #expect(controller.platforms.map(\.description) == ["linux/amd64", "linux/arm64"])
        #expect(controller.referrers)
        #expect(controller.location == "/sets/addons.yaml:6:9")
        let pause = k8s.repositories[1]
        #expect(pause.digests.map(\.hex) == [String(repeating: "a", count: 64)])
        #expect(pause.platforms.map(\.description) == ["linux/amd64"])
        let quay = set.registries[1]
        #expect(!quay.options.tlsVerify)
        #expect(quay.options.authFile == "/sets/secrets/quay.json", "relative to the set file")
        #expect(quay.options.credentials == .basic(username: "robot", password: "token"))
        #expect(quay.options.retryTimes == 7 && quay.options.jobs == 9)
        #expect(quay.repositories[0].tags.regex?.pattern == #"^v1\.14\.[0-9]+$"#)
        #expect(!quay.repositories[0].referrers)
    }

    @Test func theNameDefaultsToTheFilesName() throws {
        let set = try MirrorSet(yaml: "registries: [{host: r.example, repositories: [{name: a, tags: [v1]}]}]", file: "/x/my set.v2.yml", defaults: RegistryOptions())
        #expect(set.name == "my_set.v2")
    }

    @Test func badFilesNameTheLineAndField() {
        let cases: [(yaml: String, expected: [String])] = [
            ("registries:\n  - host: r.example\n    repositorys: []\n", ["addons.yaml:3:5", "registries[0]", "unknown key 'repositorys'", "did you mean repositories?"]),
            ("registries:\n  - host: r.example\n    repositories:\n      - name: a\n        regex: '(unclosed'\n", ["addons.yaml:5:16", "registries[0].repositories[0].regex", "not a valid regular expression"]),
            ("registries:\n  - host: r.example\n    repositories:\n      - name: a\n        semver: '>=1.2 <two'\n", ["addons.yaml:5:17", "semver", "'<two'"]),
            ("registries:\n  - host: r.example\n    repositories:\n      - name: a\n        latest: 0\n", ["addons.yaml:5:17", "latest", "at least 1"]),
            ("registries:\n  - host: r.example\n    repositories:\n      - name: a\n        digests: [sha256:abc]\n", ["addons.yaml:5:19", "digests", "not a digest"]),
            ("registries:\n  - host: r.example\n    repositories:\n      - name: a\n        tags: [v1]\n        platforms: [linux/]\n", ["addons.yaml:6:21", "platforms"]),
            ("registries:\n  - host: r.example\n    repositories:\n      - name: a\n", ["addons.yaml:4:9", "selects nothing"]),
            ("registries:\n  - host: r.example\n    repositories:\n      - name: Team/App\n        tags: [v1]\n", ["addons.yaml:4:15", "name", "not a repository path"]),
            ("registries:\n  - host: r.example\n    repositories:\n      - name: a\n        tags: ['bad tag']\n", ["addons.yaml:5:16", "not a valid tag"]),
            ("registries:\n  - host: https://r.example\n    repositories: []\n", ["addons.yaml:2:11", "registries[0].host", "not a registry host"]),
            ("registries:\n  - host: r.example\n    tls-verify: maybe\n    repositories: []\n", ["addons.yaml:3:17", "tls-verify", "true or false"]),
            ("registries:\n  - host: r.example\n    creds: nocolon\n    repositories: []\n", ["addons.yaml:3:12", "creds", "USERNAME:PASSWORD"]),
            ("registries:\n  - host: r.example\n    repositories: []\n  - host: r.example\n    repositories: []\n", ["addons.yaml:4:11", "listed twice"]),
            ("registries:\n  - repositories: []\n", ["addons.yaml:2:5", "host is missing"]),
            ("registries:\n  - host: r.example\n    repositories: []\n", ["addons.yaml", "empty"]),
            ("name: x\n", ["addons.yaml", "lists no registries"]),
            ("", ["addons.yaml", "empty"]),
            ("# only a comment\n", ["addons.yaml", "empty"]),
            ("registries: [\n", ["addons.yaml", "not valid YAML"]),
            ("- a\n- b\n", ["addons.yaml:1:1", "must be a mapping"]),
            ("registries: {host: r.example}\n", ["addons.yaml:1:13", "must be a list"]),
            ("registries: []\nregistries: []\n", ["addons.yaml", "duplicated key", "registries"]),
            ("name: ../escape\nregistries: []\n", ["addons.yaml:1:7", "name"]),
            ("referrers: sometimes\nregistries: []\n", ["addons.yaml:1:12", "referrers", "true or false"]),
        ]
        for (yaml, expected) in cases {
            let message = failure(yaml)
            for part in expected {
                #expect(message.contains(part), "\(yaml.debugDescription): \(message)")
            }
        }
    }

    func selection(exact: [String] = [], globs: [String] = [], regex: String? = nil, semver: String? = nil, latest: Int? = nil) throws -> TagSelection {
        var selection = TagSelection()
        selection.exact = exact
        selection.globs = globs.map { .init(pattern: $0, location: "set.yaml:1:1") }
        selection.regex = regex.map { .init(pattern: $0, location: "set.yaml:2:2") }
        selection.semver = try semver.map { (try SemanticVersionRange(parsing: $0), "set.yaml:3:3") }
        selection.latest = latest.map { ($0, "set.yaml:4:4") }
        return selection
    }

    let tags = ["latest", "v1.8.0", "v1.9.0", "v1.9.1", "v1.10.0", "v1.10.1", "v1.11.0-rc.1", "v2.0.0", "1.9.1-alpine", "nightly-20261201"]

    @Test func selectionUnitesPatternsAndKeepsTheNewest() throws {
        #expect(try selection(exact: ["v1.8.0"]).select(from: nil, repository: "r/a") == ["v1.8.0"], "exact tags need no tag list")
        #expect(try !selection(exact: ["v1"]).needsTagList)
        #expect(try selection(globs: ["v1.9.*"]).select(from: tags, repository: "r/a") == ["v1.9.0", "v1.9.1"])
        #expect(try selection(regex: #"^v1\.1[01]\."#).select(from: tags, repository: "r/a") == ["v1.10.0", "v1.10.1", "v1.11.0-rc.1"])
        #expect(try selection(regex: "alpine").select(from: tags, repository: "r/a") == ["1.9.1-alpine"], "a regex matches anywhere")
        #expect(try selection(semver: ">=1.9 <2").select(from: tags, repository: "r/a") == ["v1.10.0", "v1.10.1", "v1.9.0", "v1.9.1"])
        #expect(try selection(semver: ">=1.9 <2", latest: 2).select(from: tags, repository: "r/a") == ["v1.10.0", "v1.10.1"])
        #expect(try selection(latest: 1).select(from: tags, repository: "r/a") == ["v2.0.0"], "latest alone: the newest release")
        #expect(try selection(exact: ["latest"], semver: "^1.9", latest: 1).select(from: tags, repository: "r/a") == ["latest", "v1.10.1"])
    }

    @Test func aPatternThatMatchesNothingFailsNamingItsPlace() throws {
        let cases: [(TagSelection, String)] = [
            (try selection(globs: ["v3.*"]), "set.yaml:1:1: glob 'v3.*' matches none of the 10 tags of r/a"),
            (try selection(regex: "^v9"), "set.yaml:2:2: regex '^v9'"),
            (try selection(semver: ">=3"), "set.yaml:3:3: semver range '>=3'"),
            (try selection(globs: ["nightly-*"], latest: 1), "set.yaml:4:4: latest: 1"),
        ]
        for (selection, expected) in cases {
            #expect {
                _ = try selection.select(from: tags, repository: "r/a")
            } throws: { error in
                (error as? StowageError)?.message.contains(expected) == true
            }
        }
    }
}
