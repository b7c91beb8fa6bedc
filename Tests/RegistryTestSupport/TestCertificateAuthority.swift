import Foundation

/// A throwaway certificate authority made with the `openssl` CLI: a CA, a server certificate it
/// signed for `127.0.0.1` and `localhost`, and optionally a client certificate it signed.
///
/// Every file lives in a private temp directory that is removed when the value is released
/// (or by `remove()`). Keys are unencrypted PEM (PKCS#8).
public final class TestCertificateAuthority: @unchecked Sendable {
    /// The key algorithm of every key the authority makes.
    public enum KeyAlgorithm: Sendable {
        /// ECDSA on P-256 (fast to generate; the default).
        case ecdsaP256
        /// RSA, 2048 bits.
        case rsa2048

        var newKeyArguments: [String] {
            switch self {
            case .ecdsaP256: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
            case .rsa2048: ["-newkey", "rsa:2048"]
            }
        }
    }

    /// The directory holding every file.
    public let directory: String
    /// The CA certificate (PEM): what clients must trust.
    public let caCertificate: String
    /// The CA private key (PEM).
    public let caKey: String
    /// The server certificate (PEM), for `IP:127.0.0.1` and `DNS:localhost`, signed by the CA.
    public let serverCertificate: String
    /// The server private key (PEM).
    public let serverKey: String
    /// The client certificate (PEM, extended key usage clientAuth) signed by the CA, if one was made.
    public let clientCertificate: String?
    /// The client private key (PEM), if a client certificate was made.
    public let clientKey: String?

    /// Makes the CA, the server certificate and, if `clientCertificate` is true, a client certificate.
    /// Requires `openssl` on PATH.
    public init(clientCertificate makeClient: Bool = true, keyAlgorithm: KeyAlgorithm = .ecdsaP256) throws {
        directory = try makeTemporaryDirectory("stowage-ca")
        caCertificate = "\(directory)/ca.crt"
        caKey = "\(directory)/ca.key"
        serverCertificate = "\(directory)/server.crt"
        serverKey = "\(directory)/server.key"
        clientCertificate = makeClient ? "\(directory)/client.cert" : nil
        clientKey = makeClient ? "\(directory)/client.key" : nil
        do {
            try makeFiles(keyAlgorithm)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Removes every file now (the paths become invalid).
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func makeFiles(_ algorithm: KeyAlgorithm) throws {
        let caConfig = "\(directory)/ca.cnf"
        try writeFile(
            caConfig,
            """
            [req]
            distinguished_name = dn
            prompt = no
            [dn]
            CN = Stowage Test CA \(UUID().uuidString.prefix(8))
            [v3_ca]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign,digitalSignature
            subjectKeyIdentifier = hash

            """)
        try Tool.run(
            "openssl",
            ["req", "-x509", "-config", caConfig, "-extensions", "v3_ca"] + algorithm.newKeyArguments
                + ["-nodes", "-keyout", caKey, "-out", caCertificate, "-days", "30", "-sha256"])

        try issue(
            name: "server", commonName: "localhost", key: serverKey, certificate: serverCertificate,
            extensions: """
                basicConstraints = CA:FALSE
                keyUsage = critical,digitalSignature,keyEncipherment
                extendedKeyUsage = serverAuth
                subjectAltName = IP:127.0.0.1,DNS:localhost
                subjectKeyIdentifier = hash
                authorityKeyIdentifier = keyid

                """, algorithm: algorithm)

        if let clientCertificate, let clientKey {
            try issue(
                name: "client", commonName: "stowage-test-client", key: clientKey, certificate: clientCertificate,
                extensions: """
                    basicConstraints = CA:FALSE
                    keyUsage = critical,digitalSignature,keyEncipherment
                    extendedKeyUsage = clientAuth
                    subjectKeyIdentifier = hash
                    authorityKeyIdentifier = keyid

                    """, algorithm: algorithm)
        }
    }

    private func issue(
        name: String, commonName: String, key: String, certificate: String, extensions: String,
        algorithm: KeyAlgorithm
    ) throws {
        let request = "\(directory)/\(name).csr"
        let extensionFile = "\(directory)/\(name).ext"
        try writeFile(extensionFile, extensions)
        try Tool.run(
            "openssl",
            ["req", "-new"] + algorithm.newKeyArguments
                + ["-nodes", "-keyout", key, "-out", request, "-subj", "/CN=\(commonName)"])
        let serial = "0x" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16)
        try Tool.run(
            "openssl",
            [
                "x509", "-req", "-in", request, "-CA", caCertificate, "-CAkey", caKey, "-set_serial", serial,
                "-out", certificate, "-days", "30", "-sha256", "-extfile", extensionFile,
            ])
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
    }

    /// Lays out a containers-style certificate directory (the shape of `/etc/containers/certs.d/HOST/`,
    /// used by `--cert-dir`): `DIR/ca.crt` and, when a client certificate exists and
    /// `includeClientCertificate` is true, `DIR/client.cert` + `DIR/client.key`.
    /// Creates `directory` if needed and returns it.
    @discardableResult
    public func makeCertificateDirectory(at directory: String, includeClientCertificate: Bool = true) throws -> String {
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func place(_ source: String, _ name: String) throws {
            let target = "\(directory)/\(name)"
            try? manager.removeItem(atPath: target)
            try manager.copyItem(atPath: source, toPath: target)
        }
        try place(caCertificate, "ca.crt")
        if includeClientCertificate, let clientCertificate, let clientKey {
            try place(clientCertificate, "client.cert")
            try place(clientKey, "client.key")
        }
        return directory
    }
}
