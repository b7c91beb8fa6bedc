import StowageModel

/// Reference bookkeeping on a layout's `index.json`: each name appears once,
/// and an unnamed image appears once however often it is added.
extension Index {
    /// The entry named `name`, if any.
    public func entry(named name: String) -> Descriptor? {
        manifests.first { $0.refName == name }
    }

    /// Names `descriptor` as `name`, moving the name if another image had it.
    /// An unnamed entry for the same digest is dropped: the image is now named.
    public mutating func setReference(_ name: RefName, to descriptor: Descriptor) {
        var entry = descriptor
        entry.refName = name.value
        manifests.removeAll { $0.refName == name.value || ($0.refName == nil && $0.digest == descriptor.digest) }
        manifests.append(entry)
    }

    /// Adds an image without a name, unless an entry for its digest already exists.
    public mutating func addUnnamed(_ descriptor: Descriptor) {
        guard !manifests.contains(where: { $0.digest == descriptor.digest }) else { return }
        var entry = descriptor
        entry.refName = nil
        manifests.append(entry)
    }

    /// Adds an image under each of `names`, or unnamed when there are none.
    public mutating func add(_ descriptor: Descriptor, names: [RefName]) {
        if names.isEmpty { addUnnamed(descriptor) }
        for name in names { setReference(name, to: descriptor) }
    }

    /// Removes the name `name`; returns the removed entry, or nil if no entry had it.
    public mutating func removeReference(_ name: String) -> Descriptor? {
        guard let position = manifests.firstIndex(where: { $0.refName == name }) else { return nil }
        return manifests.remove(at: position)
    }
}
