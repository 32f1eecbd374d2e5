"""The official report forms (报表), and their submission and sign-off level by level."""
