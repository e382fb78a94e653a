-- Servers built with output_plugin_libraries (expected/output_plugin_libraries.out) allow only
-- the output plugins it lists; the worker decodes with bottledwater, so bw_start asks for it there,
-- with the line to add as a hint. Stock servers lack the setting
-- (expected/output_plugin_libraries_1.out): nothing asks for it, and bw_start goes on to its next
-- check, the database.
SELECT count(*) AS servers_setting FROM pg_settings WHERE name = 'output_plugin_libraries';
SELECT set_config('output_plugin_libraries', 'pgoutput, test_decoding', false);
SELECT bw_start('bw_no_such_database');
RESET output_plugin_libraries;
