core_libkeelcore_la_SOURCES += core/controller_host.c core/controller_host.h
