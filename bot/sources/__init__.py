"""Sources: where items come from. Each source emits only :class:`bot.model.Item`.

``fetch`` reads bytes over http(s) (httpx, conditional GET) or from a local path;
``feed`` parses RSS, Atom (feedparser) and JSON Feed into Items.
"""
