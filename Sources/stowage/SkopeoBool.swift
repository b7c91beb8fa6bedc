import ArgumentParser

/// Boolean option values as skopeo reads them (Go's `strconv.ParseBool`, behind pflag):
/// `--tls-verify` alone means true, and `--tls-verify=VALUE` takes 1, t, T, TRUE, true,
/// True, 0, f, F, FALSE, false or False.
enum SkopeoBool {
    /// The options whose value is a boolean; alone on the command line they mean `=true`.
    static let valuedOptions: Set<String> = ["--tls-verify", "--src-tls-verify", "--dest-tls-verify"]

    /// Flags that skopeo also has as booleans: `--all=true` is `--all`, `--all=false` is nothing.
    static let flags: Set<String> = ["--all", "--dry-run", "--raw", "--config"]

    /// What the accepted values are, for error messages.
    static let accepted = "true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False), as in skopeo"

    /// Reads a value the way Go's ParseBool does.
    static func value(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": true
        case "0", "f", "F", "FALSE", "false", "False": false
        default: nil
        }
    }

    /// The `transform` of a boolean `@Option`: refuses anything else with the accepted values.
    @Sendable static func parse(_ text: String) throws -> Bool {
        guard let value = value(text) else { throw InvalidValue() }
        return value
    }

    /// ArgumentParser prints this after "The value 'x' is invalid for '--tls-verify <BOOL>': ".
    struct InvalidValue: Error, CustomStringConvertible {
        var description: String { "use \(SkopeoBool.accepted)" }
    }

    /// skopeo's spellings rewritten into ArgumentParser's: `--tls-verify` alone becomes
    /// `--tls-verify=true`; `--all=true` becomes `--all` and `--all=false` is dropped.
    /// Nothing after `--` is touched.
    static func rewrite(_ arguments: some Sequence<String>) throws -> [String] {
        var out: [String] = []
        var literal = false
        for argument in arguments {
            if literal || !argument.hasPrefix("--") {
                out.append(argument)
                continue
            }
            if argument == "--" {
                literal = true
                out.append(argument)
                continue
            }
            if valuedOptions.contains(argument) {
                out.append("\(argument)=true")
                continue
            }
            if let equals = argument.firstIndex(of: "="), flags.contains(String(argument[..<equals])) {
                let name = String(argument[..<equals])
                let text = String(argument[argument.index(after: equals)...])
                guard let value = value(text) else { throw CommandLineError("the value '\(text)' is invalid for \(name); use \(accepted)") }
                if value { out.append(name) }
                continue
            }
            out.append(argument)
        }
        return out
    }
}
