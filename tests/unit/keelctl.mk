# Unit tests of keelctl: YAML <-> JSON, manifests, printers; and a shell test
# of its usage errors and its behaviour when the master cannot be reached.
check_PROGRAMS += tests/unit/test_yaml_json tests/unit/test_printers
TESTS += tests/unit/test_yaml_json tests/unit/test_printers tests/unit/keelctl_usage.sh
tests_unit_test_yaml_json_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_yaml_json_LDADD = core/keelctl/libkeelctl.la $(KL_TEST_LDADD)
tests_unit_test_printers_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_printers_LDADD = core/keelctl/libkeelctl.la $(KL_TEST_LDADD)
EXTRA_DIST += tests/unit/keelctl_usage.sh \
	tests/fixtures/manifests/good-pods.yaml \
	tests/fixtures/manifests/good-list.json \
	tests/fixtures/manifests/bad-indent.yaml \
	tests/fixtures/manifests/bad-second-document.yaml \
	tests/fixtures/manifests/bad-not-an-object.yaml \
	tests/fixtures/manifests/bad-no-name.yaml \
	tests/fixtures/manifests/bad-json.json
