// The layout's API speaks in model types (Digest, Descriptor, Index, ContentHasher):
// importing StowageLayout brings them along.
@_exported import StowageModel
