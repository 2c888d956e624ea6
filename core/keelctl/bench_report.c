/* Scheduler benchmark results: measures from a placement and latencies, and
 * their output as a terminal table, CSV, JSON or an SVG chart of bars. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_report.h"

/* The measures every output shows, in one order, so the four formats agree. */
typedef struct metric {
    const char *key;    /* CSV column / JSON member */
    const char *label;  /* table row / chart panel */
    const char *unit;
    int percent;        /* stored 0..1, shown 0..100 */
    int decimals;
} metric_t;

enum { M_THROUGHPUT, M_THROUGHPUT_MIN, M_THROUGHPUT_MAX, M_RUNS, M_P50, M_P99, M_MAX, M_BOUND, M_UNSCHEDULABLE, M_NODES_USED, M_CPU,
       M_CPU_STDDEV, M_MEMORY, M_MEMORY_STDDEV, M_FRAGMENTATION, M_MASTER_CPU, M_MASTER_MEMORY,
       METRIC_COUNT };

static const metric_t metrics[METRIC_COUNT] = {
    [M_THROUGHPUT] = {"pods_per_second", "throughput", "pods/s", 0, 0},
    [M_THROUGHPUT_MIN] = {"pods_per_second_min", "throughput min", "pods/s", 0, 0},
    [M_THROUGHPUT_MAX] = {"pods_per_second_max", "throughput max", "pods/s", 0, 0},
    [M_RUNS] = {"runs", "runs", "", 0, 0},
    [M_P50] = {"latency_p50_ms", "latency p50", "ms", 0, 3},
    [M_P99] = {"latency_p99_ms", "latency p99", "ms", 0, 3},
    [M_MAX] = {"latency_max_ms", "latency max", "ms", 0, 3},
    [M_BOUND] = {"bound", "pods bound", "", 0, 0},
    [M_UNSCHEDULABLE] = {"unschedulable", "unschedulable", "pods", 0, 0},
    [M_NODES_USED] = {"nodes_used", "nodes used", "", 0, 0},
    [M_CPU] = {"cpu_utilisation_mean", "cpu utilisation", "%", 1, 1},
    [M_CPU_STDDEV] = {"cpu_utilisation_stddev", "cpu util. stddev", "%", 1, 1},
    [M_MEMORY] = {"memory_utilisation_mean", "memory utilisation", "%", 1, 1},
    [M_MEMORY_STDDEV] = {"memory_utilisation_stddev", "memory util. stddev", "%", 1, 1},
    [M_FRAGMENTATION] = {"fragmentation", "fragmentation", "%", 1, 1},
    [M_MASTER_CPU] = {"master_cpu_ms_per_pod", "master cpu per pod", "ms", 0, 3},
    [M_MASTER_MEMORY] = {"master_peak_mib", "master peak memory", "MiB", 0, 0},
};

static double metric_value(const kl_bench_result_t *r, int m)
{
    switch (m) {
    case M_THROUGHPUT: return r->pods_per_second;
    case M_THROUGHPUT_MIN: return r->pods_per_second_min;
    case M_THROUGHPUT_MAX: return r->pods_per_second_max;
    case M_RUNS: return (double)r->runs;
    case M_P50: return r->latency_p50_ms;
    case M_P99: return r->latency_p99_ms;
    case M_MAX: return r->latency_max_ms;
    case M_BOUND: return (double)r->bound;
    case M_UNSCHEDULABLE: return (double)r->unschedulable;
    case M_NODES_USED: return (double)r->nodes_used;
    case M_CPU: return r->cpu_utilisation_mean;
    case M_CPU_STDDEV: return r->cpu_utilisation_stddev;
    case M_MEMORY: return r->memory_utilisation_mean;
    case M_MEMORY_STDDEV: return r->memory_utilisation_stddev;
    case M_MASTER_CPU: return r->master_cpu_ms_per_pod;
    case M_MASTER_MEMORY: return r->master_peak_mib;
    default: return r->fragmentation;
    }
}

static void format_value(char *text, size_t size, const kl_bench_result_t *r, int m)
{
    if (r->error[0] || ((m == M_MASTER_CPU || m == M_MASTER_MEMORY) && strcmp(r->mode, "cluster") != 0)) {
        snprintf(text, size, "-");
        return;
    }
    double v = metric_value(r, m) * (metrics[m].percent ? 100.0 : 1.0);
    snprintf(text, size, "%.*f", metrics[m].decimals, v);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p of the samples at or below it. */
static double percentile(const double *sorted, size_t count, double p)
{
    size_t rank = (size_t)ceil(p * (double)count);
    return sorted[rank ? rank - 1 : 0];
}

void kl_bench_result_latencies(kl_bench_result_t *result, double *latencies_ms, size_t count)
{
    if (count == 0) {
        result->latency_p50_ms = result->latency_p99_ms = result->latency_max_ms = 0;
        return;
    }
    qsort(latencies_ms, count, sizeof *latencies_ms, compare_double);
    result->latency_p50_ms = percentile(latencies_ms, count, 0.50);
    result->latency_p99_ms = percentile(latencies_ms, count, 0.99);
    result->latency_max_ms = latencies_ms[count - 1];
}

void kl_bench_result_placement(kl_bench_result_t *result, const kl_bench_node_usage_t *nodes,
                               size_t count, int64_t median_cpu_milli,
                               int64_t median_memory_bytes)
{
    double cpu_sum = 0, cpu_squares = 0, memory_sum = 0, memory_squares = 0;
    double free_cpu = 0, stranded_cpu = 0;
    result->nodes_used = 0;
    for (size_t i = 0; i < count; i++) {
        const kl_bench_node_usage_t *n = &nodes[i];
        double cpu = n->cpu_allocatable_milli > 0
                         ? (double)n->cpu_requested_milli / (double)n->cpu_allocatable_milli : 0;
        double memory = n->memory_allocatable_bytes > 0
                            ? (double)n->memory_requested_bytes
                                  / (double)n->memory_allocatable_bytes : 0;
        cpu_sum += cpu;
        cpu_squares += cpu * cpu;
        memory_sum += memory;
        memory_squares += memory * memory;
        if (n->pods_count > 0)
            result->nodes_used++;
        int64_t cpu_free = n->cpu_allocatable_milli - n->cpu_requested_milli;
        int64_t memory_free = n->memory_allocatable_bytes - n->memory_requested_bytes;
        if (cpu_free <= 0)
            continue;
        free_cpu += (double)cpu_free;
        /* Free cpu is stranded when the node cannot take a typical pod anyway. */
        if (cpu_free < median_cpu_milli || memory_free < median_memory_bytes
            || n->pods_count >= n->pods_allocatable)
            stranded_cpu += (double)cpu_free;
    }
    double n = count ? (double)count : 1;
    result->cpu_utilisation_mean = cpu_sum / n;
    result->memory_utilisation_mean = memory_sum / n;
    result->cpu_utilisation_stddev =
        sqrt(fmax(0, cpu_squares / n - result->cpu_utilisation_mean * result->cpu_utilisation_mean));
    result->memory_utilisation_stddev =
        sqrt(fmax(0, memory_squares / n
                         - result->memory_utilisation_mean * result->memory_utilisation_mean));
    result->fragmentation = free_cpu > 0 ? stranded_cpu / free_cpu : 0;
}

static int compare_throughput(const void *a, const void *b)
{
    const kl_bench_result_t *x = a, *y = b;
    return (x->pods_per_second > y->pods_per_second) - (x->pods_per_second < y->pods_per_second);
}

void kl_bench_result_median(kl_bench_result_t *runs, size_t count, kl_bench_result_t *out)
{
    for (size_t i = 0; i < count; i++) {
        if (runs[i].error[0]) {
            *out = runs[i];
            out->runs = (int64_t)count;
            return;
        }
    }
    qsort(runs, count, sizeof *runs, compare_throughput);
    /* The lower median of an even count: a run that happened, not a mean. */
    *out = runs[(count - 1) / 2];
    out->runs = (int64_t)count;
    out->pods_per_second_min = runs[0].pods_per_second;
    out->pods_per_second_max = runs[count - 1].pods_per_second;
}

int kl_bench_format_parse(const char *text, kl_bench_format_t *format)
{
    if (!text || strcmp(text, "table") == 0)
        *format = KL_BENCH_TABLE;
    else if (strcmp(text, "csv") == 0)
        *format = KL_BENCH_CSV;
    else if (strcmp(text, "json") == 0)
        *format = KL_BENCH_JSON;
    else
        return -1;
    return 0;
}

static void print_table(FILE *out, const kl_bench_result_t *results, size_t count,
                        const char *title)
{
    if (title)
        fprintf(out, "%s\n", title);
    fprintf(out, "%-26s", "");
    for (size_t i = 0; i < count; i++)
        fprintf(out, " %14.14s", results[i].plugin);
    fprintf(out, "\n");
    int repeated = 0;
    for (size_t i = 0; i < count; i++)
        repeated |= results[i].runs > 1;
    for (int m = 0; m < METRIC_COUNT; m++) {
        /* One run has no spread to show. */
        if (!repeated && (m == M_THROUGHPUT_MIN || m == M_THROUGHPUT_MAX || m == M_RUNS))
            continue;
        char label[64];
        snprintf(label, sizeof label, "%s%s%s%s", metrics[m].label, metrics[m].unit[0] ? " (" : "",
                 metrics[m].unit, metrics[m].unit[0] ? ")" : "");
        fprintf(out, "%-26s", label);
        for (size_t i = 0; i < count; i++) {
            char value[32];
            format_value(value, sizeof value, &results[i], m);
            fprintf(out, " %14s", value);
        }
        fprintf(out, "\n");
    }
}

/* CSV field: quoted when it holds a separator, a quote or a line break. */
static void csv_field(FILE *out, const char *text)
{
    if (!strpbrk(text, ",\"\n")) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (const char *c = text; *c; c++) {
        if (*c == '"')
            fputc('"', out);
        fputc(*c, out);
    }
    fputc('"', out);
}

static void print_csv(FILE *out, const kl_bench_result_t *results, size_t count)
{
    fprintf(out, "plugin,mode,nodes,pods,seconds");
    for (int m = 0; m < METRIC_COUNT; m++)
        fprintf(out, ",%s", metrics[m].key);
    fprintf(out, ",error\n");
    for (size_t i = 0; i < count; i++) {
        const kl_bench_result_t *r = &results[i];
        csv_field(out, r->plugin);
        fprintf(out, ",%s,%" PRId64 ",%" PRId64 ",%.6f", r->mode, r->nodes, r->pods, r->seconds);
        for (int m = 0; m < METRIC_COUNT; m++)
            fprintf(out, ",%.6g", metric_value(r, m));
        fputc(',', out);
        csv_field(out, r->error);
        fputc('\n', out);
    }
}

json_t *kl_bench_report_json(const kl_bench_result_t *results, size_t count, const char *title)
{
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++) {
        const kl_bench_result_t *r = &results[i];
        json_t *item = json_pack("{s:s, s:s, s:I, s:I, s:f}", "plugin", r->plugin, "mode",
                                 r->mode, "nodes", (json_int_t)r->nodes, "pods",
                                 (json_int_t)r->pods, "seconds", r->seconds);
        for (int m = 0; m < METRIC_COUNT; m++) {
            double v = metric_value(r, m);
            if (m == M_BOUND || m == M_UNSCHEDULABLE || m == M_NODES_USED || m == M_RUNS)
                json_object_set_new(item, metrics[m].key, json_integer((json_int_t)v));
            else
                json_object_set_new(item, metrics[m].key, json_real(isfinite(v) ? v : 0));
        }
        if (r->error[0])
            json_object_set_new(item, "error", json_string(r->error));
        json_array_append_new(list, item);
    }
    return json_pack("{s:s, s:o}", "title", title ? title : "", "results", list);
}

void kl_bench_report_print(FILE *out, kl_bench_format_t format, const kl_bench_result_t *results,
                           size_t count, const char *title)
{
    if (format == KL_BENCH_CSV) {
        print_csv(out, results, count);
    } else if (format == KL_BENCH_JSON) {
        json_t *report = kl_bench_report_json(results, count, title);
        json_dumpf(report, out, JSON_INDENT(2));
        fputc('\n', out);
        json_decref(report);
    } else {
        print_table(out, results, count, title);
    }
    fflush(out);
}

/* ---- SVG ---------------------------------------------------------------- */

static void xml_text(FILE *out, const char *text)
{
    for (const char *c = text; *c; c++) {
        switch (*c) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*c, out);
        }
    }
}

/* Colour-blind-safe palette (Okabe and Ito). */
static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                      "#56B4E9", "#D55E00", "#F0E442", "#000000"};
#define PALETTE_SIZE (sizeof palette / sizeof palette[0])

/* The measures worth a panel; pods bound is implied by unschedulable. */
static const int charted[] = {M_THROUGHPUT, M_P50, M_P99, M_UNSCHEDULABLE, M_NODES_USED,
                              M_CPU, M_CPU_STDDEV, M_MEMORY, M_FRAGMENTATION};
#define CHARTED_COUNT (sizeof charted / sizeof charted[0])

void kl_bench_report_svg(FILE *out, const kl_bench_result_t *results, size_t count,
                         const char *title)
{
    const int columns = 3, panel_width = 320, panel_height = 230, top = 90, margin = 20;
    int rows = (int)((CHARTED_COUNT + (size_t)columns - 1) / (size_t)columns);
    int width = margin * 2 + columns * panel_width;
    int height = top + rows * panel_height + margin;
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width, height, width,
            height);
    /* "what: details" goes on two lines so a long title stays inside. */
    const char *heading = title ? title : "keelson scheduler benchmark";
    const char *colon = strstr(heading, ": ");
    fprintf(out, "<text x=\"%d\" y=\"26\" font-size=\"18\" font-weight=\"bold\">", margin);
    if (colon) {
        char first[256];
        snprintf(first, sizeof first, "%.*s", (int)(colon - heading), heading);
        xml_text(out, first);
        fprintf(out, "</text>\n<text x=\"%d\" y=\"44\" font-size=\"13\">", margin);
        xml_text(out, colon + 2);
    } else {
        xml_text(out, heading);
    }
    fprintf(out, "</text>\n");
    /* Legend: one swatch per plugin. */
    int x = margin;
    for (size_t i = 0; i < count; i++) {
        fprintf(out, "<rect x=\"%d\" y=\"56\" width=\"14\" height=\"14\" fill=\"%s\"/>"
                "<text x=\"%d\" y=\"68\" font-size=\"14\">", x, palette[i % PALETTE_SIZE], x + 20);
        xml_text(out, results[i].plugin);
        if (results[i].error[0])
            fputs(" (failed)", out);
        fprintf(out, "</text>\n");
        x += 40 + 9 * (int)strlen(results[i].plugin) + (results[i].error[0] ? 60 : 0);
    }
    for (size_t p = 0; p < CHARTED_COUNT; p++) {
        int m = charted[p];
        int px = margin + (int)(p % (size_t)columns) * panel_width;
        int py = top + (int)(p / (size_t)columns) * panel_height;
        int plot_top = py + 40, plot_bottom = py + panel_height - 30;
        int plot_left = px + 10, plot_right = px + panel_width - 20;
        double scale = metrics[m].percent ? 100.0 : 1.0, high = 0;
        for (size_t i = 0; i < count; i++)
            if (!results[i].error[0] && metric_value(&results[i], m) * scale > high)
                high = metric_value(&results[i], m) * scale;
        if (metrics[m].percent && high < 100 && m != M_CPU_STDDEV && m != M_FRAGMENTATION)
            high = 100;  /* utilisation reads best against its full scale */
        if (high <= 0)
            high = 1;
        fprintf(out, "<g>\n<text x=\"%d\" y=\"%d\" font-size=\"15\" font-weight=\"bold\">",
                px + 10, py + 22);
        xml_text(out, metrics[m].label);
        if (metrics[m].unit[0]) {
            fputs(" (", out);
            xml_text(out, metrics[m].unit);
            fputs(")", out);
        }
        fprintf(out, "</text>\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n",
                plot_left, plot_bottom, plot_right, plot_bottom);
        double slot = (double)(plot_right - plot_left) / (double)(count ? count : 1);
        double bar = slot * 0.7 > 60 ? 60 : slot * 0.7;
        for (size_t i = 0; i < count; i++) {
            char value[32];
            format_value(value, sizeof value, &results[i], m);
            double v = results[i].error[0] ? 0 : metric_value(&results[i], m) * scale;
            double h = v / high * (double)(plot_bottom - plot_top - 18);
            double bx = plot_left + slot * (double)i + (slot - bar) / 2;
            fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "fill=\"%s\"><title>", bx, plot_bottom - h, bar, h,
                    palette[i % PALETTE_SIZE]);
            xml_text(out, results[i].plugin);
            fprintf(out, ": %s</title></rect>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" "
                    "text-anchor=\"middle\">%s</text>\n", value, bx + bar / 2,
                    plot_bottom - h - 4, value);
            /* Shrink a name to its slot rather than let names overlap. */
            double fit = slot / (0.62 * (double)(strlen(results[i].plugin) + 1));
            fprintf(out, "<text x=\"%.1f\" y=\"%d\" font-size=\"%.1f\" "
                    "text-anchor=\"middle\">", bx + bar / 2, plot_bottom + 16,
                    fit < 12 ? fit : 12);
            xml_text(out, results[i].plugin);
            fprintf(out, "</text>\n");
        }
        fprintf(out, "</g>\n");
    }
    fprintf(out, "</svg>\n");
    fflush(out);
}
