/* fuzz_ecm.c - libFuzzer target for the ECM file loader.
 *
 * Any bytes go to bt_ecm_parse; a model that loads is evaluated and written
 * back, and what it writes must load again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bt_ecm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char errmsg[BT_ERRMSG_SIZE];
	struct bt_ecm *ecm, *again;
	struct bt_ecm_params p;
	struct bt_ecm_state st;
	char *text = NULL;
	size_t len = 0;
	double docv;
	FILE *f;

	if (bt_ecm_parse((const char *)data, size, "fuzz.ecm", &ecm, errmsg) != BT_OK)
		return 0;
	bt_ecm_ocv(ecm, 0.5, 25, &docv);
	bt_ecm_params_at(ecm, 0.37, 11, &p);
	bt_ecm_state_init(ecm, 0.5, 25, &st);
	bt_ecm_step(ecm, &st, -1.5, 1.0);
	bt_ecm_voltage(ecm, &st, -1.5);
	f = open_memstream(&text, &len);
	if (f != NULL) {
		enum bt_status written = bt_ecm_write(ecm, f);

		if (fclose(f) == 0 && written == BT_OK) {
			if (bt_ecm_parse(text, len, "again.ecm", &again, errmsg) != BT_OK)
				abort();	/* what we write must read back */
			bt_ecm_free(again);
		}
		free(text);
	}
	bt_ecm_free(ecm);
	return 0;
}
