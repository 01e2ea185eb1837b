CREATE TABLE accounts(
    id INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    address TEXT NOT NULL,
    address_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    max_bytes INTEGER,
    max_messages INTEGER,
    display_name TEXT,
    used_bytes INTEGER NOT NULL DEFAULT 0,
    used_messages INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
);

CREATE INDEX accounts_domain ON accounts(domain_id);

CREATE TABLE alias_targets(
    alias_id INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    target TEXT NOT NULL,
    target_key TEXT NOT NULL,
    PRIMARY KEY(alias_id, position)
) WITHOUT ROWID;

CREATE INDEX alias_targets_key ON alias_targets(target_key);

CREATE TABLE aliases(
    id INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    address TEXT NOT NULL,
    address_key TEXT NOT NULL UNIQUE,
    kind INTEGER NOT NULL,
    created INTEGER NOT NULL
);

CREATE INDEX aliases_domain ON aliases(domain_id);

CREATE TABLE blobs(
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    refcount INTEGER NOT NULL
);

CREATE TABLE domains(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    catch_all TEXT,
    created INTEGER NOT NULL
);

CREATE TABLE expunged(
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY(mailbox_id, uid)
) WITHOUT ROWID;

CREATE TABLE mailboxes(
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    special_use TEXT,
    uid_validity INTEGER NOT NULL,
    uid_next INTEGER NOT NULL,
    highest_modseq INTEGER NOT NULL,
    subscribed INTEGER NOT NULL DEFAULT 1,
    UNIQUE(account_id, name)
);

CREATE TABLE message_meta(
    blob_id INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    envelope TEXT NOT NULL,
    body TEXT NOT NULL,
    body_structure TEXT NOT NULL,
    subject TEXT,
    from_header TEXT,
    to_header TEXT,
    cc_header TEXT,
    date INTEGER,
    message_id TEXT,
    in_reply_to TEXT,
    refs TEXT
);

CREATE VIRTUAL TABLE message_text USING fts5(headers, body, tokenize='trigram');

CREATE TABLE 'message_text_config'(k PRIMARY KEY, v) WITHOUT ROWID;

CREATE TABLE 'message_text_content'(id INTEGER PRIMARY KEY, c0, c1);

CREATE TABLE 'message_text_data'(id INTEGER PRIMARY KEY, block BLOB);

CREATE TABLE 'message_text_docsize'(id INTEGER PRIMARY KEY, sz BLOB);

CREATE TABLE 'message_text_idx'(segid, term, pgno, PRIMARY KEY(segid, term)) WITHOUT ROWID;

CREATE TABLE messages(
    id INTEGER PRIMARY KEY,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
    uid INTEGER NOT NULL,
    blob_id INTEGER NOT NULL REFERENCES blobs(id),
    size INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    flags TEXT NOT NULL,
    seen INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    UNIQUE(mailbox_id, uid)
);

CREATE INDEX messages_blob ON messages(blob_id);

CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);

CREATE TABLE quarantine(
    id INTEGER PRIMARY KEY,
    blob_id INTEGER NOT NULL REFERENCES blobs(id),
    sender TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT,
    reason TEXT NOT NULL,
    category TEXT NOT NULL,
    received INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    trace_id TEXT,
    released INTEGER,
    released_by TEXT
);

CREATE INDEX quarantine_blob ON quarantine(blob_id);

CREATE INDEX quarantine_expires ON quarantine(expires);

CREATE INDEX quarantine_received ON quarantine(received, id);

CREATE TABLE quarantine_recipients(
    quarantine_id INTEGER NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    address TEXT NOT NULL,
    address_key TEXT NOT NULL,
    PRIMARY KEY(quarantine_id, position)
) WITHOUT ROWID;

CREATE INDEX quarantine_recipients_key ON quarantine_recipients(address_key);

CREATE INDEX quarantine_sender ON quarantine(sender_key);

CREATE TABLE queue(
    id INTEGER PRIMARY KEY,
    domain TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    blob_id INTEGER NOT NULL REFERENCES blobs(id),
    created INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delay_notice_sent INTEGER NOT NULL DEFAULT 0,
    envelope_id TEXT,
    ret TEXT,
    route TEXT
);

CREATE INDEX queue_blob ON queue(blob_id);

CREATE INDEX queue_due ON queue(next_attempt, id);

CREATE TABLE send_as(
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address_key TEXT NOT NULL,
    PRIMARY KEY(account_id, address_key)
) WITHOUT ROWID;

CREATE TABLE store_state(
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE text_pending(
    blob_id INTEGER PRIMARY KEY
);

CREATE TABLE trace_events(
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    recipient TEXT,
    recipient_key TEXT,
    message_id TEXT,
    remote_ip TEXT,
    detail TEXT NOT NULL,
    subject TEXT
);

CREATE INDEX trace_events_message_id ON trace_events(message_id, time);

CREATE INDEX trace_events_recipient ON trace_events(recipient_key, time);

CREATE INDEX trace_events_sender ON trace_events(sender_key, time);

CREATE INDEX trace_events_time ON trace_events(time);

CREATE INDEX trace_events_trace_id ON trace_events(trace_id, time);

CREATE TABLE transport_rules(
    name_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    definition TEXT NOT NULL,
    comment TEXT,
    modified INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX transport_rules_order ON transport_rules(priority, name_key);
