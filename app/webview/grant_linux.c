//go:build linux && desktop

// The WebKitGTK side of Grant: a hook on every web view's load-changed
// signal sets the view up before its first page commits, and a
// permission-request handler asks Go (healthhubDecide) for each request.

#include <stdint.h>
#include <webkit2/webkit2.h>

extern int healthhubDecide(uintptr_t decide, int kind, int audio, int video, int display, char *page);

// The kinds of request, as grant_linux.go names them.
enum { ASK_OTHER, ASK_USER_MEDIA, ASK_DEVICE_INFO, ASK_GEOLOCATION, ASK_NOTIFICATION };

typedef struct {
	uintptr_t decide;
	int mock_capture;
} grant;

static gboolean on_permission_request(WebKitWebView *view, WebKitPermissionRequest *request, gpointer data)
{
	grant *g = data;
	int kind = ASK_OTHER, audio = 0, video = 0, display = 0;
	if (WEBKIT_IS_USER_MEDIA_PERMISSION_REQUEST(request)) {
		WebKitUserMediaPermissionRequest *media = WEBKIT_USER_MEDIA_PERMISSION_REQUEST(request);
		kind = ASK_USER_MEDIA;
		audio = webkit_user_media_permission_is_for_audio_device(media);
		video = webkit_user_media_permission_is_for_video_device(media);
		display = webkit_user_media_permission_is_for_display_device(media);
	} else if (WEBKIT_IS_DEVICE_INFO_PERMISSION_REQUEST(request)) {
		kind = ASK_DEVICE_INFO;
	} else if (WEBKIT_IS_GEOLOCATION_PERMISSION_REQUEST(request)) {
		kind = ASK_GEOLOCATION;
	} else if (WEBKIT_IS_NOTIFICATION_PERMISSION_REQUEST(request)) {
		kind = ASK_NOTIFICATION;
	}
	const gchar *page = webkit_web_view_get_uri(view);
	if (healthhubDecide(g->decide, kind, audio, video, display, (char *)(page ? page : ""))) {
		webkit_permission_request_allow(request);
	} else {
		webkit_permission_request_deny(request);
	}
	return TRUE; // decided: WebKit's own handler (which refuses) does not run
}

static gboolean set_up_view(GSignalInvocationHint *hint, guint n_params, const GValue *params, gpointer data)
{
	grant *g = data;
	WebKitWebView *view = WEBKIT_WEB_VIEW(g_value_get_object(&params[0]));
	if (g_object_get_data(G_OBJECT(view), "healthhub-grant") != NULL) {
		return TRUE;
	}
	g_object_set_data(G_OBJECT(view), "healthhub-grant", g);

	WebKitSettings *settings = webkit_web_view_get_settings(view);
	webkit_settings_set_enable_media_stream(settings, TRUE);
	webkit_settings_set_enable_webaudio(settings, TRUE);
	if (g->mock_capture) {
		webkit_settings_set_enable_mock_capture_devices(settings, TRUE);
	}

	g_signal_connect(view, "permission-request", G_CALLBACK(on_permission_request), g);
	return TRUE; // stay hooked, for any later web view
}

void healthhub_grant(uintptr_t decide, int mock_capture)
{
	grant *g = g_new0(grant, 1);
	g->decide = decide;
	g->mock_capture = mock_capture;
	// The class stays referenced: its signals must exist for the hook.
	g_type_class_ref(WEBKIT_TYPE_WEB_VIEW);
	g_signal_add_emission_hook(g_signal_lookup("load-changed", WEBKIT_TYPE_WEB_VIEW), 0, set_up_view, g, NULL);
}
