/* test_refer.c: refer_check(): one test per row of SPEC.md's transfer table,
 * their order, then Refer-To forms, domains, addresses, numbers, geo, Refer-Sub, headers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hdr.h"
#include "msg.h"
#include "refer.h"

/* Two trunks as SPEC.md describes them. beta's domain is a name here:
 * config.c refuses an IP literal as a domain, so the IP-literal host rule
 * is tested with beta_ip, a copy of beta whose domain is 198.51.100.7. */
static const char ini[] =
	"[engine]\n"
	"listen = 127.0.0.1:5060\n"
	"trusted = 127.0.0.0/8\n"
	"[pstn]\n"
	"gateway = sip:127.0.0.1:5090\n"
	"geo_allow = 1 44\n"
	"[trunk acme]\n"
	"domain = acme.zt.example.net\n"
	"uri = sip:agent@127.0.0.1:5080\n"
	"numbers = +14155550100 +14155550101\n"
	"geo_allow = 1\n"
	"[trunk beta]\n"
	"domain = beta.zt.example.net\n"
	"uri = sip:beta@127.0.0.1:5081\n"
	"numbers = +442079460000\n";

static struct config *cfg;
static const struct config_trunk *acme, *beta;
static struct config_trunk beta_ip, public_ip;

/* The last message checked: t's slices point into buf. */
static char *buf;
static struct sip_msg msg;
static struct refer_target t;
static const char *why;

static void setup(void)
{
	cr_assert_eq(config_load_string(ini, "refer.ini", &cfg, stderr), 0);
	acme = config_trunk_by_domain(cfg, STR("acme.zt.example.net"));
	beta = config_trunk_by_domain(cfg, STR("beta.zt.example.net"));
	cr_assert(acme && beta);
	beta_ip = *beta;
	beta_ip.domain = "198.51.100.7";
	public_ip = *beta;
	public_ip.domain = "8.8.8.8";
}

static void teardown(void)
{
	free(buf);
	config_free(cfg);
}

TestSuite(refer, .init = setup, .fini = teardown);

#define TARGET "+14155551234"
#define ACME "acme.zt.example.net"
/* A Refer-To line for uri, and a complete one for the usual target. */
#define RT(uri) "Refer-To: <" uri ">\r\n"
#define RT_OK RT("sip:" TARGET "@" ACME)

/* The seed page's example REFER, with extra header lines before
 * Content-Length. It is parsed from a heap copy of exactly its size, no
 * NUL, so that AddressSanitizer catches any read past the message. */
static unsigned check_on(const struct config_trunk *arrived, const char *extra)
{
	char text[8192];
	struct sip_core core;
	int n = snprintf(text, sizeof(text),
			 "REFER sip:trunk@" ACME " SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1\r\n"
			 "From: <sip:endpoint@pbx.example.com>;tag=12345\r\n"
			 "To: <sip:trunk@" ACME ">;tag=67890\r\n"
			 "Call-ID: 1-12345@192.0.2.10\r\n"
			 "CSeq: 1 REFER\r\n"
			 "Contact: <sip:endpoint@192.0.2.10:5060>\r\n"
			 "Max-Forwards: 70\r\n"
			 "%s"
			 "Content-Length: 0\r\n\r\n", extra);

	cr_assert(n > 0 && (size_t)n < sizeof(text));
	free(buf);
	buf = malloc((size_t)n);
	cr_assert_not_null(buf);
	memcpy(buf, text, (size_t)n);
	cr_assert_eq(sip_msg_parse(&msg, buf, (size_t)n), 0, "%s in:\n%s", msg.err, extra);
	cr_assert_eq(sip_core_read(&msg, &core), 0, "%s in:\n%s", msg.err, extra);
	why = NULL;
	return refer_check(cfg, arrived, &msg, &t, &why);
}

static void expect_on(const struct config_trunk *arrived, const char *extra, unsigned code,
		      const char *reason)
{
	unsigned got = check_on(arrived, extra);

	cr_expect_eq(got, code, "code %u (%s), want %u, for:\n%s", got, why, code, extra);
	cr_expect_str_eq(why, reason, "why '%s', want '%s', for:\n%s", why, reason, extra);
}

static void expect(const char *extra, unsigned code, const char *reason)
{
	expect_on(acme, extra, code, reason);
}

static bool slice_is(struct str s, const char *want)
{
	return s.p && str_eq(s, str_make(want, strlen(want)));
}

/* ---- one test per row of the table (481 and 491 are the caller's) ---- */

Test(refer, row_no_refer_to_is_400)
{
	expect("", 400, "no Refer-To");
}

Test(refer, row_several_refer_to_is_400)
{
	expect(RT_OK RT_OK, 400, "several Refer-To");
}

Test(refer, row_unparsable_refer_to_is_400)
{
	expect("Refer-To: <sip:" TARGET "@" ACME "\r\n", 400, "Refer-To does not parse");
	expect("Refer-To: <sip:" TARGET "@>\r\n", 400, "Refer-To does not parse");
	expect("Refer-To: sip:" TARGET "@" ACME "?X-A=1\r\n", 400, "Refer-To does not parse");
}

Test(refer, row_scheme_or_domain_is_403)
{
	expect(RT("tel:" TARGET), 403, "scheme not sip/sips");
	expect(RT("sip:" TARGET "@other.example.net"), 403, "domain is not the trunk's");
}

Test(refer, row_private_host_is_403)
{
	expect_on(&beta_ip, RT("sip:" TARGET "@198.51.100.7"), 403, "private address");
}

Test(refer, row_not_e164_is_400)
{
	expect(RT("sip:4155551234@" ACME), 400, "not E.164");
}

Test(refer, row_country_not_allowed_is_403)
{
	expect(RT("sip:+442071234567@" ACME), 403, "country not allowed");
}

Test(refer, row_otherwise_202)
{
	expect(RT_OK, 202, "accepted");
	cr_expect(slice_is(t.number, TARGET));
	cr_expect_eq(t.country_code, 1);
	cr_expect_null(t.trunk);
	cr_expect_eq(t.next_hop, &cfg->pstn.gateway);
	cr_expect(!t.no_subscription);
	cr_expect_eq(t.nheaders, 0);
}

/* ---- order: a REFER failing two rules gets the earlier one's code ---- */

Test(refer, order_several_before_scheme)
{
	expect(RT("tel:" TARGET) RT("tel:" TARGET), 400, "several Refer-To");
}

Test(refer, order_refer_sub_with_parse_step_before_403)
{
	expect(RT("sip:" TARGET "@other.example.net") "Refer-Sub: maybe\r\n", 400, "bad Refer-Sub");
}

Test(refer, order_domain_before_not_e164)
{
	expect(RT("sip:4155551234@other.example.net"), 403, "domain is not the trunk's");
}

Test(refer, order_domain_before_private_maddr)
{
	expect(RT("sip:" TARGET "@other.example.net;maddr=10.0.0.1"), 403,
	       "domain is not the trunk's");
}

Test(refer, order_private_before_not_e164)
{
	expect(RT("sip:4155551234@" ACME ";maddr=10.0.0.1"), 403, "maddr is private");
	expect_on(&beta_ip, RT("sip:4155551234@198.51.100.7"), 403, "private address");
}

Test(refer, order_not_e164_before_geo)
{
	expect(RT("sip:+4420712345678901@" ACME), 400, "not E.164");
}

/* ---- how many Refer-To, and in which form ---- */

Test(refer, compact_form)
{
	expect("r: <sip:" TARGET "@" ACME ">\r\n", 202, "accepted");
	expect("r: sip:" TARGET "@" ACME "\r\n", 202, "accepted");
}

Test(refer, long_and_compact_are_two)
{
	expect(RT_OK "r: <sip:" TARGET "@" ACME ">\r\n", 400, "several Refer-To");
}

Test(refer, list_in_one_header_is_several)
{
	expect("Refer-To: <sip:" TARGET "@" ACME ">, <sip:+14155559999@" ACME ">\r\n", 400,
	       "several Refer-To");
	expect("Refer-To: sip:" TARGET "@" ACME ", sip:+14155559999@" ACME "\r\n", 400,
	       "several Refer-To");
}

/* Commas inside <> or quotes do not split: these are one Refer-To each. */
Test(refer, comma_inside_brackets_or_quotes_is_one)
{
	expect("Refer-To: <sip:+1415,5551234@" ACME ">\r\n", 400, "not E.164");
	expect("Refer-To: \"Desk, front\" <sip:" TARGET "@" ACME ">\r\n", 202, "accepted");
}

Test(refer, empty_or_broken_list_does_not_parse)
{
	expect("Refer-To: <sip:" TARGET "@" ACME ">, <sip:x\r\n", 400, "Refer-To does not parse");
	expect("Refer-To: \"open quote <sip:" TARGET "@" ACME ">\r\n", 400,
	       "Refer-To does not parse");
}

Test(refer, refer_to_with_header_params)
{
	expect("Refer-To: <sip:" TARGET "@" ACME ">;foo=bar\r\n", 202, "accepted");
}

/* ---- scheme and domain ---- */

Test(refer, tel_uri_is_403)
{
	expect(RT("tel:" TARGET), 403, "scheme not sip/sips");
}

Test(refer, other_scheme_is_403)
{
	expect(RT("http://" ACME "/" TARGET), 403, "scheme not sip/sips");
	expect(RT("mailto:agent@" ACME), 403, "scheme not sip/sips");
}

Test(refer, sips_ok)
{
	expect(RT("sips:" TARGET "@" ACME), 202, "accepted");
}

Test(refer, uppercase_domain_ok)
{
	expect(RT("sip:" TARGET "@ACME.ZT.Example.NET"), 202, "accepted");
	expect(RT("SIP:" TARGET "@" ACME), 202, "accepted");
}

Test(refer, port_and_params_on_trunk_domain_ok)
{
	expect(RT("sip:" TARGET "@" ACME ":5070;transport=tcp;user=phone"), 202, "accepted");
}

Test(refer, other_domain_is_403)
{
	expect(RT("sip:" TARGET "@other.example.net"), 403, "domain is not the trunk's");
}

Test(refer, other_trunks_domain_is_403)
{
	expect(RT("sip:" TARGET "@beta.zt.example.net"), 403, "domain is not the trunk's");
}

Test(refer, subdomain_is_403)
{
	expect(RT("sip:" TARGET "@evil." ACME), 403, "domain is not the trunk's");
}

Test(refer, suffix_trick_is_403)
{
	expect(RT("sip:" TARGET "@" ACME ".evil.com"), 403, "domain is not the trunk's");
	expect(RT("sip:" TARGET "@" ACME "."), 403, "domain is not the trunk's");
	expect(RT("sip:" TARGET "@cme.zt.example.net"), 403, "domain is not the trunk's");
}

Test(refer, ip_literal_host_on_name_trunk_is_403)
{
	expect(RT("sip:" TARGET "@127.0.0.1"), 403, "domain is not the trunk's");
	expect(RT("sip:" TARGET "@[::1]"), 403, "domain is not the trunk's");
}

Test(refer, no_arrival_trunk_is_403)
{
	expect_on(NULL, RT_OK, 403, "domain is not the trunk's");
}

/* ---- private addresses ---- */

Test(refer, public_ip_literal_domain_passes_host_rule)
{
	expect_on(&public_ip, RT("sip:+442071234567@8.8.8.8"), 202, "accepted");
	cr_expect_eq(t.next_hop, &cfg->pstn.gateway);
}

Test(refer, private_maddr_is_403)
{
	static const char *const v[] = {
		RT("sip:" TARGET "@" ACME ";maddr=10.0.0.1"),
		RT("sip:" TARGET "@" ACME ";maddr=127.0.0.1"),
		RT("sip:" TARGET "@" ACME ";maddr=169.254.1.1"),
		RT("sip:" TARGET "@" ACME ";maddr=[::1]"),
		RT("sip:" TARGET "@" ACME ";maddr=100.64.0.1"),
		RT("sip:" TARGET "@" ACME ";maddr=192.168.1.1"),
		RT("sip:" TARGET "@" ACME ";maddr=[fe80::1]"),
		RT("sip:" TARGET "@" ACME ";maddr=[::ffff:10.0.0.1]"),
		RT("sip:" TARGET "@" ACME ";MADDR=10.0.0.1"),
		RT("sip:" TARGET "@" ACME ";m%61ddr=10.0.0.1"),
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		expect(v[i], 403, "maddr is private");
}

Test(refer, public_maddr_ok)
{
	expect(RT("sip:" TARGET "@" ACME ";maddr=8.8.8.8"), 202, "accepted");
	expect(RT("sip:" TARGET "@" ACME ";maddr=[2606:4700::1111]"), 202, "accepted");
	expect(RT("sip:" TARGET "@" ACME ";maddr=gw.example.com"), 202, "accepted");
}

/* ---- E.164 ---- */

Test(refer, not_e164_is_400)
{
	static const char *const v[] = {
		RT("sip:14155551234@" ACME),        /* no + */
		RT("sip:+04155551234@" ACME),       /* leading 0 */
		RT("sip:+123456@" ACME),            /* 6 digits */
		RT("sip:+1234567890123456@" ACME),  /* 16 digits */
		RT("sip:+1415555CALL@" ACME),       /* letters */
		RT("sip:+1-415-555-1234@" ACME),    /* separators */
		RT("sip:%2B14155551234@" ACME),     /* escaped: not a slice of E.164 */
		RT("sip:+1415555%31234@" ACME),
		RT("sip:" TARGET ";isub=12@" ACME), /* user params */
		RT("sip:" ACME),                    /* no user */
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		expect(v[i], 400, "not E.164");
}

Test(refer, e164_bounds_ok)
{
	expect(RT("sip:+1415555@" ACME), 202, "accepted");         /* 7 digits */
	expect(RT("sip:+141555512345678@" ACME), 202, "accepted"); /* 15 digits */
}

/* ---- geo and routing ---- */

Test(refer, platform_number_of_another_trunk_ignores_geo)
{
	expect(RT("sip:+442079460000@" ACME), 202, "accepted");
	cr_expect_eq(t.trunk, beta);
	cr_expect_eq(t.next_hop, &beta->uri);
	cr_expect_eq(t.country_code, 44);
}

Test(refer, platform_number_of_same_trunk)
{
	expect(RT("sip:+14155550101@" ACME), 202, "accepted");
	cr_expect_eq(t.trunk, acme);
	cr_expect_eq(t.next_hop, &acme->uri);
}

Test(refer, uk_pstn_from_acme_is_403)
{
	expect(RT("sip:+442071234567@" ACME), 403, "country not allowed");
}

Test(refer, us_pstn_from_acme_goes_to_gateway)
{
	expect(RT_OK, 202, "accepted");
	cr_expect(slice_is(t.number, TARGET));
	cr_expect(t.number.p >= buf && t.number.p < buf + msg.len, "a slice of the message");
	cr_expect_null(t.trunk);
	cr_expect_eq(t.next_hop, &cfg->pstn.gateway);
}

Test(refer, beta_uses_pstn_geo)
{
	expect_on(beta, RT("sip:+442071234567@beta.zt.example.net"), 202, "accepted");
	cr_expect_eq(t.country_code, 44);
	cr_expect_eq(t.next_hop, &cfg->pstn.gateway);
	expect_on(beta, RT("sip:" TARGET "@beta.zt.example.net"), 202, "accepted");
	expect_on(beta, RT("sip:+33142685300@beta.zt.example.net"), 403, "country not allowed");
}

Test(refer, unassigned_country_code_is_403)
{
	expect_on(beta, RT("sip:+9991234567@beta.zt.example.net"), 403, "country not allowed");
}

/* ---- Referred-By and Refer-Sub ---- */

Test(refer, referred_by_copied)
{
	expect(RT_OK "Referred-By:   <sip:agent@pbx.example.com>;cid=\"x@y\"  \r\n", 202, "accepted");
	cr_expect(slice_is(t.referred_by, "<sip:agent@pbx.example.com>;cid=\"x@y\""));
	expect(RT_OK "b: <sip:bot@pbx.example.com>\r\n", 202, "accepted");
	cr_expect(slice_is(t.referred_by, "<sip:bot@pbx.example.com>"));
}

Test(refer, referred_by_absent_is_empty)
{
	expect(RT_OK, 202, "accepted");
	cr_expect(slice_is(t.referred_by, ""));
}

Test(refer, refer_sub)
{
	expect(RT_OK "Refer-Sub: false\r\n", 202, "accepted");
	cr_expect(t.no_subscription);
	expect(RT_OK "Refer-Sub: FALSE\r\n", 202, "accepted");
	cr_expect(t.no_subscription);
	expect(RT_OK "Refer-Sub: true\r\n", 202, "accepted");
	cr_expect(!t.no_subscription);
	expect(RT_OK "Refer-Sub: true;x=1\r\n", 202, "accepted");
	cr_expect(!t.no_subscription);
}

Test(refer, refer_sub_garbage_is_400)
{
	expect(RT_OK "Refer-Sub: maybe\r\n", 400, "bad Refer-Sub");
	expect(RT_OK "Refer-Sub:\r\n", 400, "bad Refer-Sub");
	expect(RT_OK "Refer-Sub: false true\r\n", 400, "bad Refer-Sub");
	expect(RT_OK "Refer-Sub: false\r\nRefer-Sub: false\r\n", 400, "bad Refer-Sub");
}

/* ---- headers embedded in the Refer-To URI ---- */

Test(refer, uui_and_x_headers_copied)
{
	expect(RT("sip:" TARGET "@" ACME
		  "?User-to-User=56a390f3d2b7310023a2%3Bencoding%3Dhex&X-Agent-Id=42"),
	       202, "accepted");
	cr_assert_eq(t.nheaders, 2);
	cr_expect(slice_is(t.header_names[0], "User-to-User"));
	cr_expect(slice_is(t.header_values[0], "56a390f3d2b7310023a2%3Bencoding%3Dhex"));
	cr_expect(slice_is(t.header_names[1], "X-Agent-Id"));
	cr_expect(slice_is(t.header_values[1], "42"));
}

Test(refer, header_names_any_case_or_escaped)
{
	expect(RT("sip:" TARGET "@" ACME "?user-to-user=ab&x-queue=sales&User%2Dto-User=cd&x-e="),
	       202, "accepted");
	cr_assert_eq(t.nheaders, 4);
	cr_expect(slice_is(t.header_names[0], "user-to-user"));
	cr_expect(slice_is(t.header_names[1], "x-queue"));
	cr_expect(slice_is(t.header_names[2], "User%2Dto-User"));
	cr_expect(slice_is(t.header_names[3], "x-e"));
	cr_expect(slice_is(t.header_values[3], ""));
}

Test(refer, other_headers_ignored)
{
	expect(RT("sip:" TARGET "@" ACME
		  "?Via=SIP%2F2.0%2FUDP%20evil.example.com&Route=%3Csip:evil.example.com%3E"
		  "&Call-ID=x&CSeq=1%20INVITE&Contact=%3Csip:evil%3E&Max-Forwards=1"
		  "&From=%3Csip:x%40y%3E&To=%3Csip:x%40y%3E&Content-Length=5&body=hello"
		  "&Replaces=abc&User-to-User-X=1&XAgent=1&X-=1&X-Keep=1"),
	       202, "accepted");
	cr_assert_eq(t.nheaders, 1);
	cr_expect(slice_is(t.header_names[0], "X-Keep"));
}

Test(refer, injection_ignored)
{
	expect(RT("sip:" TARGET "@" ACME
		  "?X-A=ok%0D%0AVia:%20SIP%2F2.0%2FUDP%20evil&X-B=a%0Ab&X-C=a%0db&X-D=a%00b"
		  "&X-E=a%7Fb&X-F%0D%0AVia=1&X-G%3A=1&X-Ok=tab%09and%20space%C3%A9"),
	       202, "accepted");
	cr_assert_eq(t.nheaders, 1);
	cr_expect(slice_is(t.header_names[0], "X-Ok"));
	cr_expect(slice_is(t.header_values[0], "tab%09and%20space%C3%A9"));
}

Test(refer, headers_capped)
{
	expect(RT("sip:" TARGET "@" ACME
		  "?X-0=0&X-1=1&X-2=2&X-3=3&X-4=4&X-5=5&X-6=6&X-7=7&X-8=8&X-9=9"),
	       202, "accepted");
	cr_assert_eq(t.nheaders, REFER_MAX_HEADERS);
	for (unsigned i = 0; i < REFER_MAX_HEADERS; i++) {
		char name[8], value[4];

		snprintf(name, sizeof(name), "X-%u", i);
		snprintf(value, sizeof(value), "%u", i);
		cr_expect(slice_is(t.header_names[i], name), "header %u", i);
		cr_expect(slice_is(t.header_values[i], value), "header %u", i);
	}
}

Test(refer, headers_not_copied_on_refusal)
{
	expect(RT("sip:+442071234567@" ACME "?X-A=1"), 403, "country not allowed");
	cr_expect_eq(t.nheaders, 0);
}

Test(refer, why_may_be_null)
{
	check_on(acme, RT_OK);
	cr_expect_eq(refer_check(cfg, acme, &msg, &t, NULL), 202);
}
