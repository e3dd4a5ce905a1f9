DROP TABLE billing_rule_events, billing_reviews, billing_months;
