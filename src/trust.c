/*
 * trust.c: TLS trust anchors (the system trust store, a configured PEM file
 * and the roots built into the binary) and the certificate and private
 * key of the proxy's own TLS listeners.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "roots.h"
#include "stream-int.h"
#include "util.h"

/* Largest CA bundle or certificate file read; Debian's is about 220 KB. */
#define TRUST_FILE_MAX		(16 * 1024 * 1024)
/* Largest private key file read. */
#define TRUST_KEY_FILE_MAX	(1024 * 1024)
/* Longest PEM object name kept ("ENCRYPTED PRIVATE KEY" has 21). */
#define TRUST_PEM_NAME_MAX	64
/* Most certificates accepted in a listener's chain. */
#define TRUST_CHAIN_MAX		16

/* ---- PEM ---- */

typedef int (*pem_object_fn)(void *arg, const char *name,
    const unsigned char *der, size_t len);

struct pem_reader {
	br_pem_decoder_context	 pc;
	struct buf		 obj;		/* DER of the current object */
	char			 name[TRUST_PEM_NAME_MAX];
	int			 in_object;
	int			 nomem;
	int			 errors;	/* objects with bad base64 */
	pem_object_fn		 fn;
	void			*arg;
};

static void
pem_append(void *arg, const void *data, size_t len)
{
	struct pem_reader	*r = arg;

	if (buf_append(&r->obj, data, len) != EXO_OK)
		r->nomem = 1;
}

/* Feeds len bytes to the decoder and calls fn for each object. */
static int
pem_push(struct pem_reader *r, const char *data, size_t len)
{
	size_t	n;
	int	rc;

	while (len > 0) {
		n = br_pem_decoder_push(&r->pc, data, len);
		data += n;
		len -= n;
		switch (br_pem_decoder_event(&r->pc)) {
		case BR_PEM_BEGIN_OBJ:
			str_copy(r->name, br_pem_decoder_name(&r->pc),
			    sizeof(r->name));
			r->obj.len = 0;
			r->in_object = 1;
			br_pem_decoder_setdest(&r->pc, pem_append, r);
			break;
		case BR_PEM_END_OBJ:
			if (!r->in_object)
				break;
			r->in_object = 0;
			if (r->nomem)
				return (EXO_ERR_NOMEM);
			rc = r->fn(r->arg, r->name,
			    (const unsigned char *)r->obj.data, r->obj.len);
			if (rc != EXO_OK)
				return (rc);
			break;
		case BR_PEM_ERROR:
			r->in_object = 0;
			r->errors++;
			break;
		}
	}
	return (EXO_OK);
}

/*
 * Calls fn for every PEM object in text. A final newline is pushed so an
 * object whose END line has no line end still completes.
 */
static int
pem_each(const char *text, size_t len, pem_object_fn fn, void *arg)
{
	struct pem_reader	r;
	int			rc;

	memset(&r, 0, sizeof(r));
	br_pem_decoder_init(&r.pc);
	buf_init(&r.obj);
	r.fn = fn;
	r.arg = arg;
	rc = pem_push(&r, text, len);
	if (rc == EXO_OK)
		rc = pem_push(&r, "\n", 1);
	buf_free(&r.obj);
	return (rc);
}

/* ---- trust anchors ---- */

static void *
trust_memdup(const void *p, size_t len)
{
	void	*copy;

	copy = malloc(len > 0 ? len : 1);
	if (copy != NULL && len > 0)
		memcpy(copy, p, len);
	return (copy);
}

/* Copies the key data out of a decoder, which reuses its buffers. */
static int
trust_copy_pkey(br_x509_pkey *dst, const br_x509_pkey *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->key_type = src->key_type;
	if (src->key_type == BR_KEYTYPE_RSA) {
		dst->key.rsa.n = trust_memdup(src->key.rsa.n, src->key.rsa.nlen);
		dst->key.rsa.nlen = src->key.rsa.nlen;
		dst->key.rsa.e = trust_memdup(src->key.rsa.e, src->key.rsa.elen);
		dst->key.rsa.elen = src->key.rsa.elen;
		if (dst->key.rsa.n == NULL || dst->key.rsa.e == NULL)
			return (EXO_ERR_NOMEM);
		return (EXO_OK);
	}
	if (src->key_type == BR_KEYTYPE_EC) {
		dst->key.ec.curve = src->key.ec.curve;
		dst->key.ec.q = trust_memdup(src->key.ec.q, src->key.ec.qlen);
		dst->key.ec.qlen = src->key.ec.qlen;
		return (dst->key.ec.q == NULL ? EXO_ERR_NOMEM : EXO_OK);
	}
	return (EXO_ERR_INVALID);
}

static void
trust_free_pkey(br_x509_pkey *pk)
{
	if (pk->key_type == BR_KEYTYPE_RSA) {
		free(pk->key.rsa.n);
		free(pk->key.rsa.e);
	} else if (pk->key_type == BR_KEYTYPE_EC)
		free(pk->key.ec.q);
}

static void
trust_dn_append(void *arg, const void *data, size_t len)
{
	struct pem_reader	*r = arg;

	if (buf_append(&r->obj, data, len) != EXO_OK)
		r->nomem = 1;
}

/*
 * Decodes one DER certificate and adds it as a trust anchor. Returns
 * EXO_ERR_INVALID for a certificate BearSSL cannot use, which callers
 * skip.
 */
static int
trust_add_der(struct trust_store *t, const unsigned char *der, size_t len)
{
	br_x509_decoder_context	 dc;
	br_x509_trust_anchor	*ta, *grown;
	br_x509_pkey		*pk;
	struct pem_reader	 dn;	/* only its buffer and nomem flag */
	size_t			 cap;
	int			 rc;

	memset(&dn, 0, sizeof(dn));
	buf_init(&dn.obj);
	br_x509_decoder_init(&dc, trust_dn_append, &dn);
	br_x509_decoder_push(&dc, der, len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (dn.nomem || pk == NULL || dn.obj.len == 0) {
		rc = dn.nomem ? EXO_ERR_NOMEM : EXO_ERR_INVALID;
		goto out;
	}

	if (t->count == t->cap) {
		cap = t->cap == 0 ? 64 : t->cap * 2;
		grown = realloc(t->anchors, cap * sizeof(*grown));
		if (grown == NULL) {
			rc = EXO_ERR_NOMEM;
			goto out;
		}
		t->anchors = grown;
		t->cap = cap;
	}
	ta = &t->anchors[t->count];

	/*
	 * Every anchor may sign: old v1 roots carry no Basic Constraints,
	 * and a self-signed server certificate in ca_file must also work.
	 */
	ta->flags = BR_X509_TA_CA;
	rc = trust_copy_pkey(&ta->pkey, pk);
	if (rc != EXO_OK) {
		trust_free_pkey(&ta->pkey);
		goto out;
	}
	ta->dn.data = (unsigned char *)dn.obj.data;
	ta->dn.len = dn.obj.len;
	buf_init(&dn.obj);
	t->count++;
out:
	buf_free(&dn.obj);
	return (rc);
}

struct trust_pem_count {
	struct trust_store	*t;
	size_t			 certs;		/* CERTIFICATE objects seen */
	size_t			 added;
};

static int
trust_pem_object(void *arg, const char *name, const unsigned char *der,
    size_t len)
{
	struct trust_pem_count	*c = arg;
	int			 rc;

	if (strcmp(name, "CERTIFICATE") != 0 &&
	    strcmp(name, "X509 CERTIFICATE") != 0 &&
	    strcmp(name, "TRUSTED CERTIFICATE") != 0)
		return (EXO_OK);
	c->certs++;
	rc = trust_add_der(c->t, der, len);
	if (rc == EXO_ERR_NOMEM)
		return (rc);
	if (rc == EXO_OK)
		c->added++;
	return (EXO_OK);
}

/* Adds every usable certificate of a PEM file; *added counts them. */
static int
trust_add_pem_file(struct trust_store *t, const char *path, size_t *added,
    struct exo_error *e)
{
	struct trust_pem_count	 c;
	char			*text;
	size_t			 len;
	int			 rc;

	*added = 0;
	rc = plat_read_file(path, TRUST_FILE_MAX, &text, &len, e);
	if (rc != EXO_OK)
		return (rc);
	memset(&c, 0, sizeof(c));
	c.t = t;
	rc = pem_each(text, len, trust_pem_object, &c);
	free(text);
	if (rc != EXO_OK)
		return (err_set(e, rc, "reading certificates from %s failed: "
		    "%s", path, exo_strerror(rc)));
	*added = c.added;
	return (EXO_OK);
}

/*
 * Adds the certificates of the system store that plat_system_roots
 * passes; returns how many were added or EXO_ERR_NOMEM.
 */
static int
trust_system_cert(void *arg, enum plat_cert_format format, const void *data,
    size_t len)
{
	struct trust_pem_count	c;
	int			rc;

	if (format == PLAT_CERT_DER) {
		rc = trust_add_der(arg, data, len);
		if (rc == EXO_ERR_NOMEM)
			return (rc);
		return (rc == EXO_OK ? 1 : 0);
	}
	memset(&c, 0, sizeof(c));
	c.t = arg;
	rc = pem_each(data, len, trust_pem_object, &c);
	if (rc == EXO_ERR_NOMEM)
		return (rc);
	/* A bundle that fails to parse counts as empty, so the next one
	 * is tried. */
	if (rc != EXO_OK)
		return (0);
	return ((int)(c.added > INT_MAX ? INT_MAX : c.added));
}

int
trust_load(const char *ca_file, struct trust_store **out,
    struct exo_error *e)
{
	struct trust_store	*t;
	size_t			 i, added;
	int			 rc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return (err_set(e, EXO_ERR_NOMEM, "out of memory"));
	if ((t->sessions = tls_session_cache_new()) == NULL) {
		rc = EXO_ERR_NOMEM;
		goto fail;
	}

	/* A broken system store only costs anchors. */
	if ((rc = plat_system_roots(trust_system_cert, t)) == EXO_ERR_NOMEM)
		goto fail;

	if (ca_file != NULL && *ca_file != '\0') {
		rc = trust_add_pem_file(t, ca_file, &added, e);
		if (rc == EXO_ERR_NOTFOUND) {
			err_set(e, rc, "CA file %s not found: check ca_file "
			    "in the [tls] section", ca_file);
			goto fail;
		}
		if (rc != EXO_OK)
			goto fail;
		if (added == 0) {
			rc = err_set(e, EXO_ERR_INVALID, "CA file %s contains "
			    "no usable PEM certificate (\"-----BEGIN "
			    "CERTIFICATE-----\")", ca_file);
			goto fail;
		}
	}

	for (i = 0; i < builtin_roots_count; i++) {
		rc = trust_add_der(t, builtin_roots[i].der,
		    builtin_roots[i].len);
		if (rc == EXO_ERR_NOMEM)
			goto fail;
	}
	*out = t;
	return (EXO_OK);
fail:
	if (rc == EXO_ERR_NOMEM)
		err_set(e, rc, "out of memory loading TLS trust anchors");
	trust_free(t);
	return (rc);
}

size_t
trust_count(const struct trust_store *t)
{
	return (t->count);
}

void
trust_free(struct trust_store *t)
{
	size_t	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->count; i++) {
		free(t->anchors[i].dn.data);
		trust_free_pkey(&t->anchors[i].pkey);
	}
	free(t->anchors);
	tls_session_cache_free(t->sessions);
	free(t);
}

/* ---- server certificate and key ---- */

struct creds_loader {
	struct tls_server_creds	*c;
	int			 keys;		/* private keys seen */
	int			 encrypted;
	int			 nomem;
	int			 bad_key;
};

static int
creds_cert_object(void *arg, const char *name, const unsigned char *der,
    size_t len)
{
	struct creds_loader	*l = arg;
	br_x509_certificate	*cert;

	if (strcmp(name, "CERTIFICATE") != 0 &&
	    strcmp(name, "X509 CERTIFICATE") != 0)
		return (EXO_OK);
	if (l->c->chain_len == TRUST_CHAIN_MAX)
		return (EXO_ERR_TOOLONG);
	cert = &l->c->chain[l->c->chain_len];
	cert->data = trust_memdup(der, len);
	if (cert->data == NULL)
		return (EXO_ERR_NOMEM);
	cert->data_len = len;
	l->c->chain_len++;
	return (EXO_OK);
}

/* Copies a decoded private key, which lives inside the decoder. */
static int
creds_copy_key(struct tls_server_creds *c, br_skey_decoder_context *dc)
{
	const br_rsa_private_key	*rsa;
	const br_ec_private_key		*ec;

	c->key_type = br_skey_decoder_key_type(dc);
	if (c->key_type == BR_KEYTYPE_RSA) {
		rsa = br_skey_decoder_get_rsa(dc);
		c->rsa.n_bitlen = rsa->n_bitlen;
		c->rsa.p = trust_memdup(rsa->p, rsa->plen);
		c->rsa.plen = rsa->plen;
		c->rsa.q = trust_memdup(rsa->q, rsa->qlen);
		c->rsa.qlen = rsa->qlen;
		c->rsa.dp = trust_memdup(rsa->dp, rsa->dplen);
		c->rsa.dplen = rsa->dplen;
		c->rsa.dq = trust_memdup(rsa->dq, rsa->dqlen);
		c->rsa.dqlen = rsa->dqlen;
		c->rsa.iq = trust_memdup(rsa->iq, rsa->iqlen);
		c->rsa.iqlen = rsa->iqlen;
		if (c->rsa.p == NULL || c->rsa.q == NULL || c->rsa.dp == NULL ||
		    c->rsa.dq == NULL || c->rsa.iq == NULL)
			return (EXO_ERR_NOMEM);
		return (EXO_OK);
	}
	if (c->key_type == BR_KEYTYPE_EC) {
		ec = br_skey_decoder_get_ec(dc);
		c->ec.curve = ec->curve;
		c->ec.x = trust_memdup(ec->x, ec->xlen);
		c->ec.xlen = ec->xlen;
		return (c->ec.x == NULL ? EXO_ERR_NOMEM : EXO_OK);
	}
	return (EXO_ERR_INVALID);
}

static int
creds_key_object(void *arg, const char *name, const unsigned char *der,
    size_t len)
{
	struct creds_loader	*l = arg;
	br_skey_decoder_context	 dc;
	int			 rc;

	if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
		l->encrypted = 1;
		return (EXO_OK);
	}
	if (strcmp(name, "RSA PRIVATE KEY") != 0 &&
	    strcmp(name, "EC PRIVATE KEY") != 0 &&
	    strcmp(name, "PRIVATE KEY") != 0)
		return (EXO_OK);
	if (l->keys++ > 0)
		return (EXO_OK);

	br_skey_decoder_init(&dc);
	br_skey_decoder_push(&dc, der, len);
	if (br_skey_decoder_last_error(&dc) != 0) {
		l->bad_key = 1;
		rc = EXO_OK;
	} else
		rc = creds_copy_key(l->c, &dc);
	plat_wipe(&dc, sizeof(dc));
	return (rc);
}

/* Reads the key type of the certificate and of its issuer. */
static int
creds_check_cert(struct tls_server_creds *c, int *cert_key_type)
{
	br_x509_decoder_context	 dc;
	br_x509_pkey		*pk;

	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, c->chain[0].data, c->chain[0].data_len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL)
		return (EXO_ERR_INVALID);
	*cert_key_type = pk->key_type;
	c->issuer_key_type = (unsigned)br_x509_decoder_get_signer_key_type(&dc);
	return (EXO_OK);
}

/* Loads the chain from cert_file into c. */
static int
creds_load_chain(struct tls_server_creds *c, const char *cert_file,
    struct exo_error *e)
{
	struct creds_loader	 l;
	char			*text;
	size_t			 len;
	int			 rc;

	rc = plat_read_file(cert_file, TRUST_FILE_MAX, &text, &len, e);
	if (rc == EXO_ERR_NOTFOUND)
		return (err_set(e, rc, "certificate file %s not found",
		    cert_file));
	if (rc != EXO_OK)
		return (rc);
	memset(&l, 0, sizeof(l));
	l.c = c;
	rc = pem_each(text, len, creds_cert_object, &l);
	free(text);
	if (rc == EXO_ERR_TOOLONG)
		return (err_set(e, rc, "certificate file %s has more than %d "
		    "certificates", cert_file, TRUST_CHAIN_MAX));
	if (rc != EXO_OK)
		return (err_set(e, rc, "reading %s failed: %s", cert_file,
		    exo_strerror(rc)));
	if (c->chain_len == 0)
		return (err_set(e, EXO_ERR_INVALID, "certificate file %s "
		    "contains no PEM certificate (\"-----BEGIN "
		    "CERTIFICATE-----\")", cert_file));
	return (EXO_OK);
}

/* Loads the first private key of key_file into c. */
static int
creds_load_key(struct tls_server_creds *c, const char *key_file,
    struct exo_error *e)
{
	struct creds_loader	 l;
	char			*text;
	size_t			 len;
	int			 rc;

	rc = plat_read_file(key_file, TRUST_KEY_FILE_MAX, &text, &len, e);
	if (rc == EXO_ERR_NOTFOUND)
		return (err_set(e, rc, "key file %s not found", key_file));
	if (rc != EXO_OK)
		return (rc);
	memset(&l, 0, sizeof(l));
	l.c = c;
	rc = pem_each(text, len, creds_key_object, &l);
	plat_wipe(text, len);
	free(text);
	if (rc != EXO_OK)
		return (err_set(e, rc, "reading %s failed: %s", key_file,
		    exo_strerror(rc)));
	if (l.keys == 0 && l.encrypted)
		return (err_set(e, EXO_ERR_INVALID, "key file %s is encrypted: "
		    "store it without a passphrase (openssl pkey -in %s -out "
		    "plain.key)", key_file, key_file));
	if (l.keys == 0)
		return (err_set(e, EXO_ERR_INVALID, "key file %s contains no "
		    "PEM private key", key_file));
	if (l.bad_key || (c->key_type != BR_KEYTYPE_RSA &&
	    c->key_type != BR_KEYTYPE_EC))
		return (err_set(e, EXO_ERR_INVALID, "key file %s holds a key "
		    "that is invalid or not RSA or EC", key_file));
	return (EXO_OK);
}

int
tls_server_creds_load(const char *cert_file, const char *key_file,
    struct tls_server_creds **out, struct exo_error *e)
{
	struct tls_server_creds	*c;
	int			 rc, cert_key_type;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return (err_set(e, EXO_ERR_NOMEM, "out of memory"));
	c->chain = calloc(TRUST_CHAIN_MAX, sizeof(*c->chain));
	if (c->chain == NULL) {
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
		goto fail;
	}

	rc = creds_load_chain(c, cert_file, e);
	if (rc != EXO_OK)
		goto fail;
	if (creds_check_cert(c, &cert_key_type) != EXO_OK) {
		rc = err_set(e, EXO_ERR_INVALID, "the first certificate in %s "
		    "is invalid or has a key that is not RSA or EC",
		    cert_file);
		goto fail;
	}
	rc = creds_load_key(c, key_file, e);
	if (rc != EXO_OK)
		goto fail;
	if (cert_key_type != c->key_type) {
		rc = err_set(e, EXO_ERR_INVALID, "key file %s does not "
		    "belong to the certificate in %s (one is RSA, the other "
		    "EC)", key_file, cert_file);
		goto fail;
	}
	*out = c;
	return (EXO_OK);
fail:
	tls_server_creds_free(c);
	return (rc);
}

void
tls_server_creds_set_legacy(struct tls_server_creds *c, int on)
{
	c->legacy = on != 0;
}

/* Wipes and frees one buffer of key material. */
static void
creds_free_secret(unsigned char *p, size_t len)
{
	if (p == NULL)
		return;
	plat_wipe(p, len);
	free(p);
}

void
tls_server_creds_free(struct tls_server_creds *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; c->chain != NULL && i < c->chain_len; i++)
		free(c->chain[i].data);
	free(c->chain);
	creds_free_secret(c->rsa.p, c->rsa.plen);
	creds_free_secret(c->rsa.q, c->rsa.qlen);
	creds_free_secret(c->rsa.dp, c->rsa.dplen);
	creds_free_secret(c->rsa.dq, c->rsa.dqlen);
	creds_free_secret(c->rsa.iq, c->rsa.iqlen);
	creds_free_secret(c->ec.x, c->ec.xlen);
	free(c);
}
