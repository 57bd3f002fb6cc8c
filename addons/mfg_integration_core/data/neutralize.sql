-- A neutralized copy of a database must neither accept events from production systems
-- nor deliver events to them.
UPDATE mfg_integration_api_key
   SET revoked = true,
       revoked_at = now() AT TIME ZONE 'UTC'
 WHERE revoked IS NOT true;
UPDATE mfg_integration_endpoint
   SET active = false;
