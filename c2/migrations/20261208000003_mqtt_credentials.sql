-- Broker access control (docs/negotiation.md, "Broker access control"):
-- each device's MQTT password, as a mosquitto `$7$` PBKDF2-SHA512 hash
-- (the embedded broker checks it; `e4c2 serve --mosquitto-dir` copies it
-- into mosquitto's password file). NULL: no password issued yet (devices
-- registered before this migration; `e4c2 client mqtt-password NAME`).
ALTER TABLE clients ADD COLUMN mqtt_password_hash TEXT;
