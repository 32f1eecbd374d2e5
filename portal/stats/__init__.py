"""Roll-up statistics: the headline figures per community and insurance year (counts.py), the
API the dashboards read (figures.py), the maintained table that makes them fast (models.py,
maintain.py) and `portal stats rebuild / verify` (cli.py)."""
