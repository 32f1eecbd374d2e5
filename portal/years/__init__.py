"""The insurance year (参保年度): its one definition, and the year a page works on."""
