/* bt_impedance.c - wavelet impedance estimation (bt_impedance.h).
 *
 * The Morlet transform is computed in the frequency domain (Torrence and
 * Compo, "A practical guide to wavelet analysis", Bull. Amer. Meteor.
 * Soc. 79 (1998) 61-78): with x^ the DFT of the zero-padded, mean-removed
 * signal, W(s, t) is the inverse DFT of x^(w) psi^(s w), where
 *     psi^(s w) = pi^(-1/4) H(w) exp(-(s w - w0)^2 / 2)       (Table 1)
 * (the normalisation sqrt(2 pi s / dt) is left out: it cancels in Z and
 * in the coherence).  The scale of frequency f is
 *     s = (w0 + sqrt(2 + w0^2)) / (4 pi f)                   (Table 1)
 * and the cone of influence has e-folding time sqrt(2) s (sec. 3g).
 */
#include <config.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_fft_complex.h>
#include <gsl/gsl_sort.h>

#include "bt_impedance.h"

void
bt_impedance_opts_init(struct bt_impedance_opts *o)
{
	o->fmin_hz = NAN;
	o->fmax_hz = NAN;
	o->per_decade = BT_IMPEDANCE_DEFAULT_PER_DECADE;
	o->omega0 = BT_IMPEDANCE_DEFAULT_OMEGA0;
	o->excitation = BT_IMPEDANCE_DEFAULT_EXCITATION;
	o->dt_s = NAN;
}

/* Put the record on a uniform grid: copy it when its steps are uniform,
 * interpolate linearly otherwise.  Store the grid's samples in *UV, *UI
 * (new arrays), their number in *M and the step in *DT. */
static enum bt_status
uniform(const double *t, const double *v, const double *i, size_t n,
	double dt_opt, double **uv, double **ui, size_t *m, double *dt)
{
	double *steps, *tv, *iv, *vv, span;
	size_t k, j, nk = 0, ns = 0;
	int even = 1;

	*uv = *ui = NULL;
	if ((steps = malloc(n * sizeof *steps)) == NULL)
		return BT_ENOMEM;
	/* Keep the rows whose time increases. */
	tv = malloc(n * sizeof *tv);
	vv = malloc(n * sizeof *vv);
	iv = malloc(n * sizeof *iv);
	if (!tv || !vv || !iv) {
		free(steps);
		free(tv);
		free(vv);
		free(iv);
		return BT_ENOMEM;
	}
	for (k = 0; k < n; k++) {
		if (nk > 0 && !(t[k] > tv[nk - 1]))
			continue;
		if (nk > 0)
			steps[ns++] = t[k] - tv[nk - 1];
		tv[nk] = t[k];
		vv[nk] = v[k];
		iv[nk] = i[k];
		nk++;
	}
	if (nk < BT_IMPEDANCE_MIN_SAMPLES) {
		free(steps);
		free(tv);
		free(vv);
		free(iv);
		return BT_EEMPTY;
	}
	gsl_sort(steps, 1, ns);
	*dt = isfinite(dt_opt) ? dt_opt : steps[ns / 2];
	for (k = 0; k < ns; k++)
		if (fabs(steps[k] - *dt) > BT_IMPEDANCE_UNIFORM_TOL * *dt)
			even = 0;
	free(steps);
	if (even) {
		*uv = vv;
		*ui = iv;
		*m = nk;
		free(tv);
		return BT_OK;
	}
	span = tv[nk - 1] - tv[0];
	*m = (size_t)floor(span / *dt) + 1;
	*uv = malloc(*m * sizeof **uv);
	*ui = malloc(*m * sizeof **ui);
	if (*uv == NULL || *ui == NULL) {
		free(*uv);
		free(*ui);
		*uv = *ui = NULL;
		free(tv);
		free(vv);
		free(iv);
		return BT_ENOMEM;
	}
	for (k = 0, j = 0; k < *m; k++) {
		double tk = tv[0] + (double)k * *dt, a;

		while (j + 2 < nk && tv[j + 1] <= tk)
			j++;
		a = (tk - tv[j]) / (tv[j + 1] - tv[j]);
		if (a > 1)
			a = 1;
		(*uv)[k] = vv[j] + a * (vv[j + 1] - vv[j]);
		(*ui)[k] = iv[j] + a * (iv[j + 1] - iv[j]);
	}
	free(tv);
	free(vv);
	free(iv);
	return *m >= BT_IMPEDANCE_MIN_SAMPLES ? BT_OK : BT_EEMPTY;
}

/* The DFT of the N samples X less their mean, zero-padded to P (a power of
 * two), into OUT (2 P doubles, packed complex). */
static void
spectrum(const double *x, size_t n, size_t p, double *out)
{
	double mean = 0;
	size_t k;

	for (k = 0; k < n; k++)
		mean += x[k];
	mean /= (double)n;
	memset(out, 0, 2 * p * sizeof *out);
	for (k = 0; k < n; k++)
		out[2 * k] = x[k] - mean;
	gsl_fft_complex_radix2_forward(out, 1, p);
}

/* W at scale S: OUT = inverse DFT of X^ psi^(s w), for P points of step DT. */
static void
morlet(const double *xf, size_t p, double dt, double s, double w0, double *out)
{
	const double norm = pow(M_PI, -0.25);
	size_t k;

	memset(out, 0, 2 * p * sizeof *out);
	/* Only positive frequencies: the Morlet wavelet is analytic. */
	for (k = 1; k <= p / 2; k++) {
		double w = 2 * M_PI * (double)k / ((double)p * dt);
		double e = s * w - w0, g = norm * exp(-e * e / 2);

		out[2 * k] = xf[2 * k] * g;
		out[2 * k + 1] = xf[2 * k + 1] * g;
	}
	gsl_fft_complex_radix2_backward(out, 1, p);
}

enum bt_status
bt_impedance_estimate(const double *t, const double *v, const double *i,
		      size_t n, const struct bt_impedance_opts *o,
		      struct bt_impedance_point **points, size_t *npoints,
		      double *dt_out)
{
	double *uv = NULL, *ui = NULL, *vf = NULL, *if_ = NULL, *wv = NULL, *wi = NULL;
	double dt, fmin, fmax, cs, span;
	struct bt_impedance_point *pts = NULL;
	size_t m, p, k, nf;
	enum bt_status st;

	*points = NULL;
	*npoints = 0;
	if (o->per_decade < 1 || !(o->omega0 > 0) || !(o->excitation >= 0)
	    || !(o->excitation < 1) || (isfinite(o->dt_s) && !(o->dt_s > 0)))
		return BT_EINVAL;
	if ((st = uniform(t, v, i, n, o->dt_s, &uv, &ui, &m, &dt)) != BT_OK)
		return st;
	*dt_out = dt;
	for (k = 1; k < m && ui[k] == ui[0]; k++)
		;
	if (k == m) {
		st = BT_ERANGE;
		goto done;
	}
	/* Fourier period = 4 pi s / (w0 + sqrt(2 + w0^2)): f = cs / s. */
	cs = (o->omega0 + sqrt(2 + o->omega0 * o->omega0)) / (4 * M_PI);
	span = (double)m * dt;
	fmax = isfinite(o->fmax_hz) ? o->fmax_hz : BT_IMPEDANCE_FMAX_FRACTION / dt;
	/* The cone, 2 COI_EFOLDINGS sqrt(2) s in all, covers half the span. */
	fmin = isfinite(o->fmin_hz) ? o->fmin_hz
	       : cs / (span / (4 * BT_IMPEDANCE_COI_EFOLDINGS * M_SQRT2));
	if (!(fmin > 0) || !(fmax > fmin)) {
		st = BT_EINVAL;
		goto done;
	}
	nf = (size_t)floor(log10(fmax / fmin) * o->per_decade + 1e-9) + 1;
	for (p = 1; p < 2 * m; p *= 2)
		;
	vf = malloc(2 * p * sizeof *vf);
	if_ = malloc(2 * p * sizeof *if_);
	wv = malloc(2 * p * sizeof *wv);
	wi = malloc(2 * p * sizeof *wi);
	pts = calloc(nf, sizeof *pts);
	if (!vf || !if_ || !wv || !wi || !pts) {
		st = BT_ENOMEM;
		goto done;
	}
	spectrum(uv, m, p, vf);
	spectrum(ui, m, p, if_);
	for (k = 0; k < nf; k++) {
		double f = fmin * pow(10, (double)k / o->per_decade), s = cs / f;
		size_t coi = (size_t)ceil(BT_IMPEDANCE_COI_EFOLDINGS * M_SQRT2 * s / dt);
		double big = 0, sre = 0, sim = 0, svv = 0, sii = 0;
		size_t j, used = 0;

		pts[k].freq_hz = f;
		pts[k].z_re_ohm = pts[k].z_im_ohm = pts[k].coherence = NAN;
		if (2 * coi >= m)
			continue;
		morlet(vf, p, dt, s, o->omega0, wv);
		morlet(if_, p, dt, s, o->omega0, wi);
		for (j = coi; j < m - coi; j++) {
			double a = hypot(wi[2 * j], wi[2 * j + 1]);

			if (a > big)
				big = a;
		}
		for (j = coi; j < m - coi; j++) {
			double vr = wv[2 * j], vi = wv[2 * j + 1];
			double ir = wi[2 * j], ii = wi[2 * j + 1];

			if (!(hypot(ir, ii) >= o->excitation * big) || big == 0)
				continue;
			/* W_V conj(W_I) */
			sre += vr * ir + vi * ii;
			sim += vi * ir - vr * ii;
			svv += vr * vr + vi * vi;
			sii += ir * ir + ii * ii;
			used++;
		}
		pts[k].samples = used;
		if (used == 0 || sii == 0)
			continue;
		pts[k].z_re_ohm = sre / sii;
		pts[k].z_im_ohm = sim / sii;
		pts[k].coherence = svv > 0 ? (sre * sre + sim * sim) / (svv * sii) : NAN;
	}
	*points = pts;
	*npoints = nf;
	pts = NULL;
	st = BT_OK;
done:
	free(uv);
	free(ui);
	free(vf);
	free(if_);
	free(wv);
	free(wi);
	free(pts);
	return st;
}

enum bt_status
bt_impedance_write(struct bt_writer *w, const struct bt_impedance_point *p,
		   size_t np)
{
	static const char *const head[] = {"frequency_hz", "z_re_ohm", "z_im_ohm",
					   "coherence", "z_abs_ohm", "z_phase_deg"};
	enum bt_status st;
	size_t j;

	for (j = 0; j < sizeof head / sizeof head[0]; j++)
		bt_writer_raw(w, head[j], strlen(head[j]));
	if ((st = bt_writer_end_row(w)) != BT_OK)
		return st;
	for (j = 0; j < np; j++) {
		bt_writer_number(w, p[j].freq_hz);
		bt_writer_number(w, p[j].z_re_ohm);
		bt_writer_number(w, p[j].z_im_ohm);
		bt_writer_number(w, p[j].coherence);
		bt_writer_number(w, hypot(p[j].z_re_ohm, p[j].z_im_ohm));
		bt_writer_number(w, atan2(p[j].z_im_ohm, p[j].z_re_ohm) * 180 / M_PI);
		if ((st = bt_writer_end_row(w)) != BT_OK)
			return st;
	}
	return BT_OK;
}
