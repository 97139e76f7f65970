"""What customers tell us afterwards: satisfaction surveys and activity (purchases, visits)."""
