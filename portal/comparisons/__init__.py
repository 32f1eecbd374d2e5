"""The comparison (比对): household register × insured records → uninsured files opened/closed."""
