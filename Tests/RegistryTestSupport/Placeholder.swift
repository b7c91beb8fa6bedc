// Registry test servers; see the other files of this target.
