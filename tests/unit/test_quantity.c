/* Quantity parsing: the forms Kubernetes manifests use, and the errors. */
#include "quantity.h"
#include "tap.h"

int main(void)
{
    int64_t v = -1;
    kl_error_t err;
    ok(kl_quantity_parse_cpu("500m", &v, &err) == 0 && v == 500, "500m is 500 millicores");
    ok(kl_quantity_parse_cpu("2", &v, &err) == 0 && v == 2000, "2 is 2000 millicores");
    ok(kl_quantity_parse_cpu("0.25", &v, &err) == 0 && v == 250, "0.25 is 250 millicores");
    ok(kl_quantity_parse_cpu("-1", &v, &err) < 0 && err.code == KL_ERR_INVALID, "negative cpu refused: %s", err.text);
    ok(kl_quantity_parse_cpu("2Gi", &v, &err) < 0 && strstr(err.text, "Gi"), "cpu with a memory suffix refused: %s", err.text);
    ok(kl_quantity_parse_cpu("", &v, &err) < 0, "empty cpu refused");
    ok(kl_quantity_parse_memory("64Mi", &v, &err) == 0 && v == 64LL * 1024 * 1024, "64Mi");
    ok(kl_quantity_parse_memory("1G", &v, &err) == 0 && v == 1000000000LL, "1G");
    ok(kl_quantity_parse_memory("1.5Gi", &v, &err) == 0 && v == 1610612736LL, "1.5Gi");
    ok(kl_quantity_parse_memory("1024", &v, &err) == 0 && v == 1024, "plain bytes");
    ok(kl_quantity_parse_memory("12Qi", &v, &err) < 0 && strstr(err.text, "Qi"), "unknown suffix named: %s", err.text);
    ok(kl_quantity_parse_memory("abc", &v, &err) < 0, "garbage refused");
    ok(kl_quantity_parse_memory("99999999Pi", &v, &err) < 0, "absurdly large refused");
    char buf[32];
    kl_quantity_format_cpu(1500, buf, sizeof buf);
    is_str(buf, "1500m", "format 1500 millicores");
    kl_quantity_format_cpu(2000, buf, sizeof buf);
    is_str(buf, "2", "format 2000 millicores");
    kl_quantity_format_memory(64LL * 1024 * 1024, buf, sizeof buf);
    is_str(buf, "64Mi", "format 64Mi");
    kl_quantity_format_memory(1000, buf, sizeof buf);
    is_str(buf, "1000", "format 1000 bytes");
    return done_testing();
}
