"""The live layer: rooms that listen, the one path a caption takes (stored, published,
translated), and the models a server holds. `server/` carries it over HTTP and WebSockets."""
