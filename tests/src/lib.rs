//! Helpers shared by the integration suite (placeholder until issue 5 lands).
