import HTTPChat

func cookiesSnippet(router: Router, token: String) {
    // snippet: cookies
    router.get("/login") { _ in
        var response = Response.text("signed in")
        response.setCookie(try SetCookie(name: "session", value: token, maxAge: 3600, path: "/",
                                         secure: true, httpOnly: true, sameSite: .lax))
        return response
    }
    router.get("/me") { request in .text(request.cookies["session"] == nil ? "who?" : "you") }
    // end snippet
}
