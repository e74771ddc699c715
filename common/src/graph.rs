//! Microsoft Graph client (identity platform tokens, Teams chat messages).
//! Written with poll-teams; shared with publish-report and Teams alerts.
