"""The dashboard (统计): a region's figures for an insurance year and its children side by side."""
