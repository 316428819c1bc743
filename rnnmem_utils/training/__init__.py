"""Training loops: resumable, vectorised over seeds where it pays."""
