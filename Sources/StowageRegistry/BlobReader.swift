import NIOCore
import StowageModel

/// Where an upload reads a blob's bytes from, by offset, so a retried or resumed
/// request can read a range again. A layout file is one (`BlobContent.file`); a read
/// shared by the uploads of one blob to several registries is another.
public protocol BlobReader: Sendable {
    /// Bytes from `offset`: at least one and at most `maxLength`, unless the blob ends there.
    func read(at offset: Int64, maxLength: Int) async throws -> ByteBuffer
}

/// The bytes a blob upload sends.
public enum BlobContent: Sendable {
    /// A file, read as it is sent.
    case file(String)
    /// A reader, asked for each part as it is sent.
    case reader(any BlobReader)

    /// The request body for `length` bytes from `offset`.
    func body(offset: Int64, length: Int64, onBytes: (@Sendable (Int) -> Void)?) -> RegistryClient.Body {
        switch self {
        case .file(let path): .file(path: path, offset: offset, length: length, onBytes: onBytes)
        case .reader(let reader): .reader(reader, offset: offset, length: length, onBytes: onBytes)
        }
    }
}

/// A byte range of a `BlobReader` as an async sequence of buffers, asked for as they
/// are sent; each iteration starts again at the range's offset.
struct ReaderChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let reader: any BlobReader
    let offset: Int64
    let length: Int64
    let chunkSize: Int
    let onBytes: (@Sendable (Int) -> Void)?

    func makeAsyncIterator() -> Iterator {
        Iterator(chunks: self, position: offset, remaining: length)
    }

    struct Iterator: AsyncIteratorProtocol {
        let chunks: ReaderChunks
        var position: Int64
        var remaining: Int64

        mutating func next() async throws -> ByteBuffer? {
            guard remaining > 0 else { return nil }
            let buffer = try await chunks.reader.read(at: position, maxLength: Int(Swift.min(Int64(chunks.chunkSize), remaining)))
            guard buffer.readableBytes > 0 else {
                throw StowageError(.io, "a blob ended \(remaining) bytes early while being sent")
            }
            position += Int64(buffer.readableBytes)
            remaining -= Int64(buffer.readableBytes)
            chunks.onBytes?(buffer.readableBytes)
            return buffer
        }
    }
}
