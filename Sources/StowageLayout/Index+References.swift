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

    /// Adds many images at once, each under its names or unnamed, with exactly the
    /// outcome of calling `add(_:names:)` for each in turn, in time linear in the entries
    /// (an import of an archive with a hundred thousand names).
    public mutating func add(_ items: [(descriptor: Descriptor, names: [RefName])]) {
        var entries: [Descriptor?] = manifests
        var byName: [String: Int] = [:]
        var unnamed: [Digest: [Int]] = [:]
        var live: [Digest: Int] = [:]
        func insert(_ entry: Descriptor) {
            let position = entries.count
            entries.append(entry)
            live[entry.digest, default: 0] += 1
            if let name = entry.refName { byName[name] = position } else { unnamed[entry.digest, default: []].append(position) }
        }
        func remove(_ position: Int) {
            guard let entry = entries[position] else { return }
            entries[position] = nil
            live[entry.digest, default: 1] -= 1
        }
        for (position, entry) in entries.enumerated() {
            guard let entry else { continue }
            live[entry.digest, default: 0] += 1
            if let name = entry.refName { byName[name] = position } else { unnamed[entry.digest, default: []].append(position) }
        }
        for (descriptor, names) in items {
            if names.isEmpty {
                guard live[descriptor.digest, default: 0] == 0 else { continue }
                var entry = descriptor
                entry.refName = nil
                insert(entry)
                continue
            }
            for name in names {
                if let position = byName.removeValue(forKey: name.value) { remove(position) }
                for position in unnamed.removeValue(forKey: descriptor.digest) ?? [] { remove(position) }
                var entry = descriptor
                entry.refName = name.value
                insert(entry)
            }
        }
        manifests = entries.compactMap { $0 }
    }

    /// Removes the name `name`; returns the removed entry, or nil if no entry had it.
    public mutating func removeReference(_ name: String) -> Descriptor? {
        guard let position = manifests.firstIndex(where: { $0.refName == name }) else { return nil }
        return manifests.remove(at: position)
    }
}
