"""Programme stage: cohort rules, key workers, alerts, claims, savings, report."""
