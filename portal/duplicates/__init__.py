"""Duplicate enrollment (重复参保): detection across the deployment, the policy's keep-rules,
the four-eyes decision, and the figures."""
