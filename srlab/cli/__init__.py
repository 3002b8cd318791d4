"""What the commands share: the config directory and resolvers, start-up checks, help."""
