"""Files the build copies next to student notebooks (they must run without mlphys installed)."""
