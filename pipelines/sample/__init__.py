"""The bundled sample partnership: a synthetic world (`world`), how its deliveries reach an instance
(`stage`) and the college's sample API (`api`)."""
