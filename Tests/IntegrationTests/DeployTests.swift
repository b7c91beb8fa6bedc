import Foundation
import RegistryTestSupport
import StowageTestSupport
import Testing
import Yams

/// The files under `deploy/` and the `Containerfile`: every YAML parses, the Tekton
/// resources are consistent with each other (params, workspaces, task references), and
/// the shell they carry runs. The scripts of `stowage-index` and `stowage-sync`, the
/// merge job of the GitHub Actions workflow and the merge and sync stages of the
/// Jenkinsfile are run for real, with the built `stowage` first on PATH, against a local
/// registry, and the pushed index is read back with skopeo. What cannot run here (buildah
/// builds and the image build, which pull base images over the network) is checked with
/// `bash -n` and static checks.
@Suite struct DeployTests {
    let directory = TemporaryDirectory("stowage-deploy")
    static let root = Fixtures.repositoryRoot
    static let tekton = "\(root)/deploy/tekton"

    // MARK: - Every YAML file

    @Test func everyYAMLFileUnderDeployParses() throws {
        let files = try Self.files(under: "\(Self.root)/deploy").filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
        #expect(files.count >= 6, "the Tekton files and the GitHub Actions workflow: \(files)")
        for file in files {
            var parsed = try Yams.compose_all(yaml: String(contentsOfFile: file, encoding: .utf8))
            var documents: [Node] = []
            while let document = parsed.next() { documents.append(document) }
            #expect(parsed.error == nil, "\(file): \(String(describing: parsed.error))")
            #expect(!documents.isEmpty, "\(file) holds a YAML document")
            for document in documents { #expect(document.mapping != nil, "\(file): a mapping at the top") }
        }
    }

    // MARK: - Tekton resources

    @Test func tektonFilesAreTektonV1OfTheExpectedKinds() throws {
        let expected = [
            "buildah-archive.yaml": "Task", "stowage-index.yaml": "Task", "stowage-sync.yaml": "Task",
            "pipeline.yaml": "Pipeline", "pipelinerun.yaml": "PipelineRun",
        ]
        let present = try FileManager.default.contentsOfDirectory(atPath: Self.tekton).filter { $0.hasSuffix(".yaml") }
        #expect(Set(present) == Set(expected.keys))
        for (file, kind) in expected {
            let document = try Self.yaml("\(Self.tekton)/\(file)")
            #expect(document["apiVersion"]?.string == "tekton.dev/v1", "\(file)")
            #expect(document["kind"]?.string == kind, "\(file)")
            #expect(document["metadata"]?["name"]?.string != nil || document["metadata"]?["generateName"]?.string != nil, "\(file) is named")
        }
    }

    @Test(arguments: ["buildah-archive", "stowage-index", "stowage-sync"])
    func taskReferencesOnlyWhatItDeclares(_ name: String) throws {
        let task = try TektonTask(file: "\(Self.tekton)/\(name).yaml")
        #expect(task.name == name)
        #expect(!task.steps.isEmpty)
        for step in task.steps {
            let context = "\(name) step \(step.name)"
            #expect(step.script.hasPrefix("#!/usr/bin/env bash\nset -euo pipefail\n"), "\(context): bash with set -euo pipefail")
            for field in [step.script, step.image, step.workingDir] + step.args + step.env.map(\.value) {
                for reference in TektonTask.paramReferences(in: field) {
                    #expect(task.params[reference.name] != nil, "\(context): $(params.\(reference.name)) is declared")
                }
                for reference in TektonTask.workspaceReferences(in: field) {
                    #expect(task.workspaces[reference.name] != nil, "\(context): $(workspaces.\(reference.name).\(reference.property)) is declared")
                    #expect(["path", "bound", "claim", "volume"].contains(reference.property), "\(context): \(reference.property)")
                }
            }
            // Tekton refuses an array param anywhere but as a whole element of args or command.
            for field in [step.script, step.image, step.workingDir] + step.env.map(\.value) {
                for reference in TektonTask.paramReferences(in: field) {
                    #expect(task.params[reference.name]?.isArray != true, "\(context): array $(params.\(reference.name)) outside args")
                }
            }
            for argument in step.args {
                for reference in TektonTask.paramReferences(in: argument) where task.params[reference.name]?.isArray == true {
                    #expect(argument == "$(params.\(reference.name)[*])", "\(context): \(argument) is an isolated array reference")
                }
            }
            // An optional workspace's path is used only after checking that it is bound.
            for (workspace, optional) in task.workspaces where optional && step.script.contains("$(workspaces.\(workspace).path)") {
                #expect(step.script.contains("$(workspaces.\(workspace).bound)"), "\(context): checks that \(workspace) is bound")
            }
        }
        for (param, declaration) in task.params {
            #expect(declaration.description?.isEmpty == false, "\(name): \(param) is described")
            if let value = declaration.defaultNode { try Self.expectStringValues(value, "\(name): default of \(param)") }
        }
        #expect(task.params["stowageImage"] != nil || name == "buildah-archive", "\(name): the image is the param stowageImage")
    }

    @Test func pipelineWiresTheTasksTogether() throws {
        let pipeline = try Self.yaml("\(Self.tekton)/pipeline.yaml")
        let spec = try #require(pipeline["spec"])
        let params = Dictionary(uniqueKeysWithValues: spec["params"]!.array().map { ($0["name"]!.string!, $0["type"]?.string ?? "string") })
        let workspaces = Dictionary(uniqueKeysWithValues: spec["workspaces"]!.array().map { ($0["name"]!.string!, $0["optional"]?.bool ?? false) })
        let tasks = try Dictionary(uniqueKeysWithValues: ["buildah-archive", "stowage-index", "stowage-sync"].map {
            ($0, try TektonTask(file: "\(Self.tekton)/\($0).yaml"))
        })
        var runAfter: [String: [String]] = [:]
        var arches: [String] = []
        for entry in spec["tasks"]!.array() {
            let name = entry["name"]!.string!
            runAfter[name] = entry["runAfter"]?.array(of: String.self) ?? []
            for reference in TektonTask.paramReferences(in: Self.scalars(entry).joined(separator: "\n")) {
                #expect(params[reference.name] != nil, "\(name): $(params.\(reference.name)) is a pipeline param")
                if reference.isArrayExpansion { #expect(params[reference.name] == "array", "\(name): \(reference.name) is an array") }
            }
            for binding in entry["workspaces"]?.array() ?? [] {
                let workspace = binding["workspace"]!.string!
                #expect(workspaces[workspace] != nil, "\(name): pipeline workspace \(workspace) is declared")
            }
            guard let taskName = entry["taskRef"]?["name"]?.string else {
                #expect(entry["taskRef"]?["resolver"]?.string == "hub", "\(name): a catalog task")
                continue
            }
            let task = try #require(tasks[taskName], "\(name): task \(taskName) is one of deploy/tekton")
            var given = Set<String>()
            for param in entry["params"]?.array() ?? [] {
                let paramName = param["name"]!.string!
                given.insert(paramName)
                let declaration = try #require(task.params[paramName], "\(name): \(taskName) declares \(paramName)")
                #expect((param["value"]?.sequence != nil) == declaration.isArray, "\(name): \(paramName) has the declared type")
                try Self.expectStringValues(param["value"]!, "\(name): \(paramName)")
                if paramName == "arch" { arches.append(param["value"]!.string!) }
            }
            for (paramName, declaration) in task.params where declaration.defaultNode == nil {
                #expect(given.contains(paramName), "\(name): the required param \(paramName) of \(taskName) is given")
            }
            var bound = Set<String>()
            for binding in entry["workspaces"]?.array() ?? [] {
                let workspaceName = binding["name"]!.string!
                bound.insert(workspaceName)
                let optional = try #require(task.workspaces[workspaceName], "\(name): \(taskName) declares workspace \(workspaceName)")
                if workspaces[binding["workspace"]!.string!] == true {
                    #expect(optional, "\(name): an optional pipeline workspace goes only to an optional task workspace (\(workspaceName))")
                }
            }
            for (workspaceName, optional) in task.workspaces where !optional {
                #expect(bound.contains(workspaceName), "\(name): workspace \(workspaceName) of \(taskName) is bound")
            }
        }
        #expect(arches.sorted() == ["amd64", "arm64"])
        #expect(Set(runAfter["stowage-index"] ?? []) == ["build-amd64", "build-arm64"])
        #expect(runAfter["stowage-sync"] == ["stowage-index"])
    }

    @Test func pipelineRunPinsEachBuildToItsArchitectureOnAReadWriteManyVolume() throws {
        let run = try Self.yaml("\(Self.tekton)/pipelinerun.yaml")
        let pipeline = try Self.yaml("\(Self.tekton)/pipeline.yaml")
        let spec = try #require(run["spec"])
        #expect(spec["pipelineRef"]?["name"]?.string == pipeline["metadata"]?["name"]?.string)
        let declared = Dictionary(uniqueKeysWithValues: pipeline["spec"]!["params"]!.array().map { ($0["name"]!.string!, $0) })
        let given = Set(spec["params"]!.array().map { $0["name"]!.string! })
        #expect(given.isSubset(of: Set(declared.keys)), "params the pipeline declares: \(given.subtracting(declared.keys))")
        for (name, declaration) in declared where declaration["default"] == nil {
            #expect(given.contains(name), "the required pipeline param \(name) is given")
        }
        for param in spec["params"]!.array() { try Self.expectStringValues(param["value"]!, "param \(param["name"]!.string!)") }
        let tasks = Dictionary(uniqueKeysWithValues: pipeline["spec"]!["tasks"]!.array().map { ($0["name"]!.string!, $0) })
        let runSpecs = spec["taskRunSpecs"]!.array()
        #expect(runSpecs.count == 2)
        for runSpec in runSpecs {
            let taskName = runSpec["pipelineTaskName"]!.string!
            let task = try #require(tasks[taskName], "\(taskName) is a task of the pipeline")
            let arch = task["params"]!.array().first { $0["name"]?.string == "arch" }?["value"]?.string
            #expect(runSpec["podTemplate"]?["nodeSelector"]?["kubernetes.io/arch"]?.string == arch, "\(taskName) runs on \(arch ?? "?")")
        }
        let pipelineWorkspaces = pipeline["spec"]!["workspaces"]!.array()
        let bound = Dictionary(uniqueKeysWithValues: spec["workspaces"]!.array().map { ($0["name"]!.string!, $0) })
        for workspace in pipelineWorkspaces where workspace["optional"]?.bool != true {
            #expect(bound[workspace["name"]!.string!] != nil, "workspace \(workspace["name"]!.string!) is bound")
        }
        let shared = try #require(bound["shared-workspace"])
        #expect(shared["volumeClaimTemplate"]?["spec"]?["accessModes"]?.array(of: String.self) == ["ReadWriteMany"])
    }

    // MARK: - The Tekton scripts, run

    /// Builders' archives as buildah-archive names them, in a directory standing for the workspace.
    func sharedWorkspace() throws -> String {
        let shared = directory.child("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("x86_64.tar"), toPath: "\(shared)/amd64.tar")
        try FileManager.default.copyItem(atPath: Fixtures.path("aarch64.tar"), toPath: "\(shared)/arm64.tar")
        return shared
    }

    @Test func indexAndSyncTaskScriptsMergeTheArchivesAndPushTheIndexToTwoRegistries() throws {
        let shared = try sharedWorkspace()
        let index = try TektonTask(file: "\(Self.tekton)/stowage-index.yaml")
        let indexed = try index.run(
            TektonBinding(arrays: ["tags": ["team/app:v1.0.0", "team/app:latest"]], workspaces: ["archives": shared]),
            in: directory.path)
        #expect(indexed.status == 0, "stowage-index: \(indexed.stdout)\(indexed.stderr)")
        #expect(indexed.stdout.contains("linux/amd64") && indexed.stdout.contains("linux/arm64"), "\(indexed.stdout)")
        let layout = "\(shared)/layout"
        let before = try LayoutSnapshot(layout)

        let registry = try RegistryServer.started()
        defer { registry.stop() }
        let credentials = directory.child("registry-config")
        let certificates = directory.child("ca-bundle")
        for path in [credentials, certificates] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        try Data(#"{"auths":{}}"#.utf8).write(to: URL(fileURLWithPath: "\(credentials)/config.json"))
        let sync = try TektonTask(file: "\(Self.tekton)/stowage-sync.yaml")
        let destinations = ["\(registry.host)/site-a", "\(registry.host)/site-b"]
        let binding = TektonBinding(
            strings: ["tlsVerify": "false", "dryRun": "true"], arrays: ["destinations": destinations],
            workspaces: ["storage": shared, "registry-config": credentials, "ca-bundle": certificates])

        let plan = try sync.run(binding, in: directory.path)
        #expect(plan.status == 0, "stowage-sync --dry-run: \(plan.stdout)\(plan.stderr)")
        #expect(try Self.skopeoInspect("\(registry.host)/site-a/team/app:v1.0.0").status != 0, "a dry run sends nothing")

        var real = binding
        real.strings["dryRun"] = "false"
        let synced = try sync.run(real, in: directory.path)
        #expect(synced.status == 0, "stowage-sync: \(synced.stdout)\(synced.stderr)")
        for destination in destinations {
            for tag in ["v1.0.0", "latest"] {
                let platforms = try Self.remotePlatforms("\(destination)/team/app:\(tag)")
                #expect(platforms.isSuperset(of: ["linux/amd64", "linux/arm64"]), "\(destination)/team/app:\(tag): \(platforms)")
            }
        }
        #expect(try LayoutSnapshot(layout) == before, "sync reads the layout (its workspace is mounted read-only)")

        // Unbound optional workspaces: no --authfile, no --cert-dir; an unchanged layout sends nothing new.
        var bare = real
        bare.workspaces = ["storage": shared]
        let again = try sync.run(bare, in: directory.path)
        #expect(again.status == 0, "stowage-sync without optional workspaces: \(again.stdout)\(again.stderr)")
    }

    @Test func indexTaskFailsClearlyWithoutArchives() throws {
        let empty = directory.child("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let index = try TektonTask(file: "\(Self.tekton)/stowage-index.yaml")
        let result = try index.run(TektonBinding(arrays: ["tags": ["team/app:v1"]], workspaces: ["archives": empty]), in: directory.path)
        #expect(result.status != 0)
        #expect(result.stderr.contains("no *.tar archive in \(empty)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(empty)/layout"), "no layout is made")
    }

    @Test func syncTaskRefusesRegistryConfigWithoutAConfigFile() throws {
        let shared = try sharedWorkspace()
        let credentials = directory.child("registry-config")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        let sync = try TektonTask(file: "\(Self.tekton)/stowage-sync.yaml")
        let result = try sync.run(
            TektonBinding(arrays: ["destinations": ["127.0.0.1:1"]], workspaces: ["storage": shared, "registry-config": credentials]),
            in: directory.path)
        #expect(result.status != 0)
        #expect(result.stderr.contains("neither config.json nor .dockerconfigjson"), "\(result.stderr)")
    }

    @Test func buildahArchiveScriptIsValidBash() throws {
        let task = try TektonTask(file: "\(Self.tekton)/buildah-archive.yaml")
        let binding = TektonBinding(
            strings: ["arch": "amd64"], arrays: ["buildArgs": ["--build-arg=VERSION=1"]],
            workspaces: ["source": directory.child("source"), "archives": directory.child("shared")])
        for step in task.steps {
            let script = try binding.render(step.script, task: task)
            #expect(script.contains("archive=\"\(directory.child("shared"))/amd64.tar\""), "writes the archive to the shared workspace")
            #expect(script.contains("push \"localhost/image\" \"oci-archive:${archive}.partial\""), "as an oci-archive")
            #expect(!script.contains("docker://"), "pushes to no registry")
            let check = try Self.bash(["-n"], script: script, in: directory.path)
            #expect(check.status == 0, "bash -n: \(check.stderr)")
        }
    }

    // MARK: - GitHub Actions

    @Test func githubActionsWorkflowBuildsPerArchitectureAndMergesWithStowage() throws {
        let workflow = try Self.yaml("\(Self.root)/deploy/github-actions/multiarch.yml")
        let jobs = try #require(workflow["jobs"])
        let build = try #require(jobs["build"])
        let include = build["strategy"]?["matrix"]?["include"]?.array() ?? []
        #expect(include.compactMap { $0["arch"]?.string }.sorted() == ["amd64", "arm64"])
        #expect(Set(include.compactMap { $0["runner"]?.string }).count == 2, "a runner of each architecture")
        let buildScripts = Self.runBlocks(build)
        #expect(buildScripts.contains { $0.contains("--output \"type=oci,dest=") }, "buildx writes an oci-archive")
        let merge = try #require(jobs["merge-and-sync"])
        #expect(merge["needs"]?.string == "build")
        for script in buildScripts + Self.runBlocks(merge) {
            let placeholder = try Self.bash(["-n"], script: script.replacingOccurrences(of: #"\$\{\{[^}]*\}\}"#, with: "X", options: .regularExpression), in: directory.path)
            #expect(placeholder.status == 0, "bash -n: \(placeholder.stderr)\n\(script)")
        }
        for script in buildScripts + Self.runBlocks(merge) {
            #expect(!script.contains("${{"), "expressions reach the shell through env, never inline: \(script)")
        }
    }

    @Test func githubActionsMergeJobRunsAgainstALocalRegistry() throws {
        let workflow = try Self.yaml("\(Self.root)/deploy/github-actions/multiarch.yml")
        let merge = try #require(workflow["jobs"]?["merge-and-sync"])
        let workspace = directory.child("gha")
        try FileManager.default.createDirectory(atPath: "\(workspace)/archives", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("x86_64.tar"), toPath: "\(workspace)/archives/amd64.tar")
        try FileManager.default.copyItem(atPath: Fixtures.path("aarch64.tar"), toPath: "\(workspace)/archives/arm64.tar")
        let registry = try RegistryServer.started()
        defer { registry.stop() }
        let declared = Set(merge["env"]?.mapping?.map { $0.key.string! } ?? [])
        let environment = [
            "IMAGE": "team/app", "VERSION": "v1.0.0", "REGISTRY": "\(registry.host)/gha", "TLS_VERIFY": "false",
            "REGISTRY_USER": "ci", "REGISTRY_PASSWORD": "secret", "STOWAGE_LAYOUT": "layout",
        ]
        #expect(declared == Set(environment.keys), "the job's env is what the test sets")
        let scripts = Self.runBlocks(merge)
        #expect(scripts.count == 4)
        for script in scripts {
            let result = try Self.bash([], script: script, in: workspace, environment: environment)
            #expect(result.status == 0, "\(script)\n\(result.stdout)\(result.stderr)")
            if result.status != 0 { return }
        }
        let platforms = try Self.remotePlatforms("\(registry.host)/gha/team/app:v1.0.0")
        #expect(platforms.isSuperset(of: ["linux/amd64", "linux/arm64"]), "\(platforms)")
        #expect(try Self.skopeoInspect("\(registry.host)/gha/team/app:v1.0.0-arm64").status == 0, "the per-arch tags go too")
    }

    // MARK: - Jenkins

    @Test func jenkinsfileShellBlocksAreValidBash() throws {
        let blocks = try Self.jenkinsBlocks()
        #expect(blocks.count == 4, "build, merge, sync, cleanup")
        for (stage, script) in blocks {
            #expect(script.hasPrefix("#!/usr/bin/env bash\n"), "\(stage): the shebang comes first, so Jenkins runs bash")
            #expect(script.contains("set -euo pipefail"), "\(stage)")
            #expect(!script.contains("\\"), "\(stage): no backslash, which Groovy would interpret")
            let check = try Self.bash(["-n"], script: script, in: directory.path)
            #expect(check.status == 0, "\(stage): bash -n: \(check.stderr)")
        }
        let build = try #require(blocks.first { $0.stage == "buildah" }?.script)
        #expect(build.contains("oci-archive:$ARCHIVES/$ARCH.tar"))
    }

    @Test func jenkinsMergeAndSyncStagesRunAgainstALocalRegistry() throws {
        let blocks = try Self.jenkinsBlocks()
        let archives = directory.child("builds/app/7")
        try FileManager.default.createDirectory(atPath: archives, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("x86_64.tar"), toPath: "\(archives)/amd64.tar")
        try FileManager.default.copyItem(atPath: Fixtures.path("aarch64.tar"), toPath: "\(archives)/arm64.tar")
        let registry = try RegistryServer.started()
        defer { registry.stop() }
        let authfile = directory.child("auth.json")
        try Data(#"{"auths":{}}"#.utf8).write(to: URL(fileURLWithPath: authfile))
        let environment = [
            "IMAGE": "team/app", "VERSION": "v2.0.0", "ARCHIVES": archives, "STOWAGE_LAYOUT": directory.child("layout"),
            "AUTHFILE": authfile, "TLS_VERIFY": "false", "DRY_RUN": "false",
            "REGISTRIES": "\(registry.host)/jenkins-a \(registry.host)/jenkins-b",
        ]
        for stage in ["Merge", "Sync"] {
            let script = try #require(blocks.first { $0.stage == stage }?.script, "\(stage)")
            let result = try Self.bash([], script: script, in: directory.path, environment: environment)
            #expect(result.status == 0, "\(stage): \(result.stdout)\(result.stderr)")
        }
        for destination in ["jenkins-a", "jenkins-b"] {
            let platforms = try Self.remotePlatforms("\(registry.host)/\(destination)/team/app:v2.0.0")
            #expect(platforms.isSuperset(of: ["linux/amd64", "linux/arm64"]), "\(destination): \(platforms)")
        }
    }

    // MARK: - Containerfile

    /// Static checks of the recipe as users build it (the Swift and Debian base images from a
    /// registry); `scripts/test-install`, run by `.ci/run`, builds it for real with buildah
    /// from local base images.
    @Test func containerfileBuildsWithScriptsInstallAndShipsOnlyTheBinaryOnDebianSlim() throws {
        let text = try String(contentsOfFile: "\(Self.root)/Containerfile", encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasPrefix("#") }
        let stages = lines.filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2, "two stages: \(stages)")
        #expect(stages.first?.hasSuffix(" AS build") == true)
        #expect(text.contains("swift:6.3-bookworm"), "a Swift 6.3 Debian bookworm image builds")
        #expect(lines.contains { $0.hasPrefix("RUN ") && $0.contains("scripts/install /out") }, "scripts/install builds it (--static-swift-stdlib)")
        #expect(text.contains("debian:bookworm-slim"), "the runtime stage is Debian slim")
        #expect(lines.contains("COPY --from=build /out/bin/stowage /usr/local/bin/stowage"))
        for package in ["libarchive13", "libssl3", "zlib1g", "ca-certificates"] {
            #expect(text.contains(" \(package)"), "the runtime stage installs \(package)")
        }
        #expect(!text.contains("libarchive-dev") && !text.contains("swift build"), "nothing for building in the runtime stage")
        let user = try #require(lines.last { $0.hasPrefix("USER ") })
        #expect(!["USER root", "USER 0", "USER 0:0"].contains(user), "runs as a non-root user: \(user)")
        #expect(lines.contains(#"ENTRYPOINT ["stowage"]"#))
        #expect(text.contains("org.opencontainers.image.title"))
        for ignore in [".containerignore", ".dockerignore"] {
            let patterns = try String(contentsOfFile: "\(Self.root)/\(ignore)", encoding: .utf8).split(separator: "\n")
            #expect(patterns.contains(".build*"), "\(ignore) keeps .build and .build-static out of the context")
        }
        // scripts/install builds with --static-swift-stdlib and refuses a binary that needs the Swift runtime.
        let lib = try String(contentsOfFile: "\(Self.root)/scripts/lib.sh", encoding: .utf8)
        #expect(lib.contains("--static-swift-stdlib"))
    }

    /// The libraries the built binary links directly, beyond the Swift runtime and glibc, are
    /// those the runtime stage installs.
    @Test func runtimeStageHasTheLibrariesTheBinaryLinks() throws {
        let dynamic = try Command.run("readelf", ["-d", StowageBinary.path])
        try #require(dynamic.status == 0, "readelf: \(dynamic.stderr)")
        let needed = dynamic.stdout.split(separator: "\n").compactMap { line -> String? in
            guard line.contains("(NEEDED)"), let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
            return String(line[line.index(after: open)..<close])
        }
        #expect(needed.contains("libarchive.so.13"), "\(needed)")
        let system = ["libc.so", "libm.so", "libdl.so", "librt.so", "libpthread.so", "libutil.so", "ld-linux", "libstdc++.so", "libgcc_s.so"]
        let swift = ["libswift", "libFoundation", "lib_Foundation", "libdispatch", "libBlocksRuntime"]
        let packages = ["libarchive.so.13": "libarchive13", "libssl.so.3": "libssl3", "libcrypto.so.3": "libssl3", "libz.so.1": "zlib1g"]
        let text = try String(contentsOfFile: "\(Self.root)/Containerfile", encoding: .utf8)
        for library in needed where !(system + swift).contains(where: { library.hasPrefix($0) }) {
            let package = try #require(packages[library], "\(library) is a library the runtime stage knows")
            #expect(text.contains(" \(package)"), "\(library) comes from \(package)")
        }
    }

    // MARK: - Helpers

    /// Every regular file below `directory`.
    static func files(under directory: String) throws -> [String] {
        let enumerator = try #require(FileManager.default.enumerator(atPath: directory))
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = "\(directory)/\(relative)"
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { files.append(path) }
        }
        return files
    }

    /// The single YAML document of `file`.
    static func yaml(_ file: String) throws -> Node {
        try #require(try Yams.compose(yaml: String(contentsOfFile: file, encoding: .utf8)), "\(file) is YAML")
    }

    /// Every scalar below `node`, in order.
    static func scalars(_ node: Node) -> [String] {
        switch node {
        case .scalar(let scalar): [scalar.string]
        case .mapping(let mapping): mapping.flatMap { scalars($0.key) + scalars($0.value) }
        case .sequence(let sequence): sequence.flatMap { scalars($0) }
        case .alias: []
        }
    }

    /// Kubernetes takes param values as strings only: `true` must be written `"true"`.
    static func expectStringValues(_ node: Node, _ context: String) throws {
        let values = node.sequence.map(Array.init) ?? [node]
        for value in values {
            let scalar = try #require(value.scalar, "\(context) is a string or a list of strings")
            // compose() leaves plain scalars unresolved: one is a string unless it reads as a bool, number or null.
            let isString = scalar.style != .plain || (value.bool == nil && value.int == nil && value.float == nil && value.null == nil)
            #expect(isString, "\(context): \(scalar.string) is a string (quote it)")
        }
    }

    /// The `run:` blocks of a GitHub Actions job, in order.
    static func runBlocks(_ job: Node) -> [String] {
        (job["steps"]?.array() ?? []).compactMap { $0["run"]?.string }
    }

    /// The `sh '''…'''` blocks of the Jenkinsfile, each with the name of the stage it is in
    /// (`post` for the cleanup).
    static func jenkinsBlocks() throws -> [(stage: String, script: String)] {
        let text = try String(contentsOfFile: "\(root)/deploy/jenkins/Jenkinsfile", encoding: .utf8)
        var blocks: [(stage: String, script: String)] = []
        var stage = ""
        var rest = Substring(text)
        while let start = rest.range(of: "sh '''") {
            let before = rest[..<start.lowerBound]
            if let named = before.ranges(of: "stage('").last {
                stage = String(before[named.upperBound...].prefix { $0 != "'" })
            }
            if before.contains("post {") { stage = "post" }
            let body = rest[start.upperBound...]
            let end = try #require(body.range(of: "'''"), "a closed sh block")
            blocks.append((stage, String(body[..<end.lowerBound])))
            rest = body[end.upperBound...]
        }
        return blocks
    }

    /// Runs `bash OPTIONS FILE ARGUMENTS` in `cwd`, FILE holding `script`, with the built
    /// `stowage` first on PATH.
    static func bash(
        _ options: [String], script: String, arguments: [String] = [], in cwd: String, environment: [String: String] = [:]
    ) throws -> CommandResult {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-\(UUID().uuidString).sh").path
        try Data(script.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let bin = URL(fileURLWithPath: StowageBinary.path).deletingLastPathComponent().path
        var env = environment
        env["PATH"] = "\(bin):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")"
        env["STOWAGE_RETRY_DELAY"] = "0.05"
        return try Command.run("/bin/bash", ["-c", #"cd "$1" && shift && exec bash "$@""#, "bash", cwd] + options + [file] + arguments, environment: env)
    }

    static func skopeoInspect(_ reference: String) throws -> CommandResult {
        try Command.run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(reference)"])
    }

    /// `os/architecture` of each entry of the index a registry holds under `reference`.
    static func remotePlatforms(_ reference: String) throws -> Set<String> {
        let result = try skopeoInspect(reference)
        try #require(result.status == 0, "skopeo inspect \(reference): \(result.stderr)")
        struct Index: Decodable {
            struct Entry: Decodable {
                struct Platform: Decodable { var os: String; var architecture: String }
                var platform: Platform?
            }
            var manifests: [Entry]
        }
        let index = try JSONDecoder().decode(Index.self, from: Data(result.stdoutBytes))
        return Set(index.manifests.compactMap { $0.platform.map { "\($0.os)/\($0.architecture)" } })
    }
}

/// The values a TaskRun binds: params (a declared default when not given) and the paths of
/// the workspaces bound (the others are unbound).
struct TektonBinding {
    var strings: [String: String] = [:]
    var arrays: [String: [String]] = [:]
    var workspaces: [String: String] = [:]

    /// `text` with `$(params.X)` and `$(workspaces.W.path|bound)` replaced as Tekton does;
    /// throws on a reference left over.
    func render(_ text: String, task: TektonTask) throws -> String {
        var result = text
        for (name, declaration) in task.params where !declaration.isArray {
            let value = strings[name] ?? declaration.defaultNode?.string
            if let value { result = result.replacingOccurrences(of: "$(params.\(name))", with: value) }
        }
        for name in task.workspaces.keys {
            let path = workspaces[name] ?? ""
            result = result.replacingOccurrences(of: "$(workspaces.\(name).path)", with: path)
            result = result.replacingOccurrences(of: "$(workspaces.\(name).bound)", with: workspaces[name] == nil ? "false" : "true")
        }
        #expect(!result.contains("$(params.") && !result.contains("$(workspaces."), "every reference is bound:\n\(result)")
        return result
    }

    /// A step's args: an isolated `$(params.X[*])` becomes the array's elements.
    func render(arguments: [String], task: TektonTask) throws -> [String] {
        try arguments.flatMap { argument -> [String] in
            if let name = argument.wholeMatch(of: #/\$\(params\.([A-Za-z0-9_-]+)\[\*\]\)/#)?.1 {
                let declaration = try #require(task.params[String(name)])
                return arrays[String(name)] ?? declaration.defaultNode?.array(of: String.self) ?? []
            }
            return [try render(argument, task: task)]
        }
    }
}

/// A Tekton Task's params, workspaces and steps, read from its YAML.
struct TektonTask {
    struct Param {
        var isArray: Bool
        var defaultNode: Node?
        var description: String?
    }

    struct Step {
        var name: String
        var image: String
        var workingDir: String
        var script: String
        var args: [String]
        var env: [(name: String, value: String)]
    }

    struct Reference {
        var name: String
        var property: String
        var isArrayExpansion: Bool
    }

    var name: String
    var params: [String: Param] = [:]
    /// Workspace name → whether it is optional.
    var workspaces: [String: Bool] = [:]
    var steps: [Step] = []

    init(file: String) throws {
        let document = try DeployTests.yaml(file)
        let spec = try #require(document["spec"], "\(file) has a spec")
        name = document["metadata"]?["name"]?.string ?? ""
        for param in spec["params"]?.array() ?? [] {
            params[param["name"]!.string!] = Param(
                isArray: param["type"]?.string == "array", defaultNode: param["default"], description: param["description"]?.string)
        }
        for workspace in spec["workspaces"]?.array() ?? [] {
            workspaces[workspace["name"]!.string!] = workspace["optional"]?.bool ?? false
        }
        for step in spec["steps"]?.array() ?? [] {
            var env: [(name: String, value: String)] = []
            for variable in step["env"]?.array() ?? [] {
                env.append((variable["name"]?.string ?? "", variable["value"]?.string ?? ""))
            }
            let args: [String] = step["args"]?.array(of: String.self) ?? []
            steps.append(Step(
                name: step["name"]?.string ?? "", image: step["image"]?.string ?? "",
                workingDir: step["workingDir"]?.string ?? "", script: step["script"]?.string ?? "", args: args, env: env))
        }
    }

    /// The `$(params.X)` and `$(params.X[*])` references in `text`.
    static func paramReferences(in text: String) -> [Reference] {
        text.matches(of: #/\$\(params\.([A-Za-z0-9_-]+)(\[\*\])?\)/#).map {
            Reference(name: String($0.1), property: "", isArrayExpansion: $0.2 != nil)
        }
    }

    /// The `$(workspaces.W.P)` references in `text`.
    static func workspaceReferences(in text: String) -> [Reference] {
        text.matches(of: #/\$\(workspaces\.([A-Za-z0-9_-]+)\.([a-z]+)\)/#).map {
            Reference(name: String($0.1), property: String($0.2), isArrayExpansion: false)
        }
    }

    /// Runs every step's script in order, as the TaskRun's pod would, with the built
    /// `stowage` first on PATH; stops at the first step that fails and returns its result
    /// (stdout of all the steps run).
    func run(_ binding: TektonBinding, in directory: String) throws -> CommandResult {
        var output = ""
        var last: CommandResult?
        for step in steps {
            let script = try binding.render(step.script, task: self)
            let arguments = try binding.render(arguments: step.args, task: self)
            let cwd = step.workingDir.isEmpty ? directory : try binding.render(step.workingDir, task: self)
            var result = try DeployTests.bash([], script: script, arguments: arguments, in: cwd)
            output += result.stdout
            result.stdout = output
            last = result
            if result.status != 0 { break }
        }
        return try #require(last, "\(name) has steps")
    }
}
