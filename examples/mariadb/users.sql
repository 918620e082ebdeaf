-- Each user is authenticated by the subject of its certificate. Through
-- countersign that is the minted certificate: the client's own subject, issued
-- by the delegation CA. The subjects below are those of `countersign certs
-- init` (openssl x509 -noout -subject -nameopt compat -in certs/alice.crt).
CREATE USER alice@'%' REQUIRE SUBJECT '/CN=alice/O=countersign dev' AND ISSUER '/CN=countersign dev delegation CA';
CREATE USER bob@'%' REQUIRE SUBJECT '/CN=bob/O=countersign dev' AND ISSUER '/CN=countersign dev delegation CA';

CREATE DATABASE app;
CREATE TABLE app.alice_notes (note text);
INSERT INTO app.alice_notes VALUES ('hello from alice''s table');
GRANT SELECT ON app.alice_notes TO alice@'%';
