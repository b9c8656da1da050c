"""Evidence beyond pixels: what an image's own metadata says about where it came from (C2PA, XMP, PNG text, EXIF)."""
