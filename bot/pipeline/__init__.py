"""The pure core: normalize → dedupe → tag → date → route. No I/O, time passed in."""
