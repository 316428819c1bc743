"""Analysis: state gradients, probes (scikit-learn), fits (scipy)."""
