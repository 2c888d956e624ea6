# The etcd store plugin: talks to etcd 3.4 through its v3 JSON gateway.
plugin_LTLIBRARIES += plugins/store/etcd/store_etcd.la
plugins_store_etcd_store_etcd_la_SOURCES = plugins/store/etcd/etcd.c \
	plugins/store/etcd/etcd_store.h plugins/store/etcd/request.c \
	plugins/store/etcd/writes.c plugins/store/etcd/history.c plugins/store/etcd/leases.c \
	plugins/store/etcd/gateway.c plugins/store/etcd/gateway.h \
	plugins/store/etcd/gateway_stream.c plugins/store/etcd/gateway_multi.c \
	plugins/store/etcd/gateway_internal.h \
	plugins/store/etcd/base64.c plugins/store/etcd/base64.h \
	plugins/store/etcd/feed.c plugins/store/etcd/feed.h \
	plugins/store/etcd/reply_scan.c plugins/store/etcd/reply_scan.h
plugins_store_etcd_store_etcd_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
plugins_store_etcd_store_etcd_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_store_etcd_store_etcd_la_LIBADD = $(CURL_LIBS) $(JANSSON_LIBS) -lpthread
