"""Evidence (level 2): aggregates of the store's verdicts per country, period, category, method, network and
domain; the figures that check expert scores; the test-list and index-result tables beside them."""
