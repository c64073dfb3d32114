// generated; do not edit; npm run gen:client
// The API's paths, parameters and bodies from its OpenAPI document (src/api/openapi.ts).
export interface paths {
    "/v1/console": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * A VM's interactive serial console, or its VNC screen (WebSocket)
         * @description Open as a WebSocket; the first message is the text of a ticket from `POST /v1/vms/{ref}/console`. A screen ticket (`display: vnc`): then RFB (VNC 3.8, security None) in binary frames both ways. A console ticket: then binary frames of console output (first a replay of up to 16 KiB of the recent log), frames sent are keystrokes. Closes 4403 `CONSOLE_TICKET_INVALID` for a wrong, expired or used ticket (or none within 5 s), 4503 `CONSOLE_UNAVAILABLE` when the host or its console cannot be reached, 1000 when the VM stops.
         */
        get: operations["attachConsole"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/events/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["streamEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/files": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listFiles"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/files/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put: operations["uploadFile"];
        post?: never;
        delete: operations["deleteFile"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Is the API up */
        get: operations["health"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/hosts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listHosts"];
        put?: never;
        post: operations["addHost"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/hosts/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete: operations["removeHost"];
        options?: never;
        head?: never;
        patch: operations["updateHost"];
        trace?: never;
    };
    "/v1/hosts/{name}/drain": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["drainHost"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/hosts/{name}/undrain": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["undrainHost"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/image-stores": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listImageStores"];
        put?: never;
        post: operations["createImageStore"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listImages"];
        put?: never;
        post: operations["createImage"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/{owner}/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getImageOfOwner"];
        put?: never;
        post?: never;
        delete: operations["deleteImageOfOwner"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/{ref}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getImage"];
        put?: never;
        post?: never;
        delete: operations["deleteImage"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listKeys"];
        put?: never;
        post: operations["addKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/keys/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getKey"];
        put?: never;
        post?: never;
        delete: operations["deleteKey"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/networks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listNetworks"];
        put?: never;
        post: operations["createNetwork"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/networks/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getNetwork"];
        put?: never;
        post?: never;
        delete: operations["deleteNetwork"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/networks/{name}/routes": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getNetworkRoutes"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/storage-drivers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listStorageDrivers"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/tokens": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listTokens"];
        put?: never;
        post: operations["createToken"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/tokens/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete: operations["revokeToken"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/totp": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getTotp"];
        put?: never;
        post: operations["enableTotp"];
        delete: operations["disableTotp"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/totp/confirm": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["confirmTotp"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listUsers"];
        put?: never;
        post: operations["createUser"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/users/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete: operations["deleteUser"];
        options?: never;
        head?: never;
        patch: operations["updateUser"];
        trace?: never;
    };
    "/v1/users/{name}/quota": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getUserQuota"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch: operations["setUserQuota"];
        trace?: never;
    };
    "/v1/vms": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listVms"];
        put?: never;
        post: operations["createVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getVm"];
        put?: never;
        post?: never;
        delete: operations["deleteVm"];
        options?: never;
        head?: never;
        patch: operations["updateVm"];
        trace?: never;
    };
    "/v1/vms/{ref}/console": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** A ticket for the VM's interactive serial console, or with display vnc its VNC screen (valid 30 s, once) */
        post: operations["createVmConsoleTicket"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/console-log": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getVmConsoleLog"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/migrate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["migrateVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/reboot": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["rebootVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/recover": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["recoverVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/resize": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["resizeVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/start": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["startVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/stats": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["getVmStats"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/stop": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["stopVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/whoami": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["whoami"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
        ErrorResponse: {
            /**
             * @description a stable code of the error catalogue (docs/api.md)
             * @enum {string}
             */
            code: "VALIDATION_FAILED" | "UNKNOWN_FIELD" | "INVALID_SIZE" | "SIZE_OUT_OF_RANGE" | "INVALID_NAME" | "DISK_SMALLER_THAN_IMAGE" | "USER_DATA_TOO_LARGE" | "USER_DATA_INVALID" | "INVALID_CURSOR" | "CURSOR_EXPIRED" | "MALFORMED_REQUEST" | "REQUEST_HEADERS_TOO_LARGE" | "REQUEST_BODY_TOO_LARGE" | "REQUEST_TIMEOUT" | "INVALID_CONFIG" | "UNAUTHENTICATED" | "TOKEN_EXPIRED" | "USER_DISABLED" | "FORBIDDEN" | "TOTP_REQUIRED" | "TOTP_INVALID" | "NOT_FOUND" | "VM_NOT_FOUND" | "IMAGE_NOT_FOUND" | "IMAGE_STORE_NOT_FOUND" | "HOST_NOT_FOUND" | "HOST_NOT_REGISTERED" | "USER_NOT_FOUND" | "TOKEN_NOT_FOUND" | "PROFILE_NOT_FOUND" | "CONFLICT" | "VM_NAME_TAKEN" | "USER_EXISTS" | "USER_HAS_RESOURCES" | "USER_IS_CALLER" | "LAST_ADMIN" | "TOTP_ENABLED" | "TOTP_NOT_ENABLED" | "TOO_MANY_TOKENS" | "TOKEN_NAME_TAKEN" | "HOST_EXISTS" | "UP_ALREADY_RUNNING" | "IMAGE_EXISTS" | "IMAGE_NOT_READY" | "VM_BUSY" | "VM_MUST_BE_STOPPED" | "VM_MIGRATING" | "VM_TRANSITION_REFUSED" | "VM_NOT_RUNNING" | "MIGRATION_IN_PROGRESS" | "MIGRATION_NOT_SUPPORTED" | "HOST_INCOMPATIBLE" | "MIGRATION_SAME_HOST" | "NO_MIGRATION" | "HOST_FENCED" | "VM_NOT_RECOVERABLE" | "HOST_NOT_FENCED" | "HOST_DEAD" | "HOST_NOT_EMPTY" | "HOST_DRAINED" | "ETCD_UNAVAILABLE" | "ETCD_AUTH_REQUIRED" | "ETCD_AUTH_FAILED" | "WEB_NOT_BUILT" | "API_UNREACHABLE" | "PREFLIGHT_FAILED" | "QEMU_START_FAILED" | "QEMU_EXITED" | "QMP_ERROR" | "MIGRATION_DESTINATION_LOST" | "MIGRATION_FAILED" | "MIGRATION_TIMEOUT" | "MIGRATION_STORE_FULL" | "MIGRATION_GUEST_ON_DESTINATION" | "HOST_CERTS_EXIST" | "MIGRATION_TLS_FILES_MISSING" | "MIGRATION_TLS_MISMATCH" | "MIGRATION_TLS_FAILED" | "QMP_TIMEOUT" | "QMP_DISCONNECTED" | "STORAGE_FAILED" | "COMMAND_FAILED" | "COMMAND_TIMEOUT" | "NO_CAPACITY" | "CAPACITY_BELOW_BOOKED" | "HOST_UIDS_EXHAUSTED" | "DISK_SHRINK_REFUSED" | "DISK_TAMPERED" | "IMAGE_INVALID" | "IMAGE_HAS_BACKING_FILE" | "IMAGE_IN_USE" | "IMAGE_AMBIGUOUS" | "IMAGE_TOO_LARGE" | "IMAGE_STORE_EXISTS" | "IMAGE_STORE_REQUIRED" | "UNKNOWN_STORAGE_DRIVER" | "INVALID_STORE_SETTINGS" | "INVALID_STORAGE_REF" | "FILE_NOT_FOUND" | "FILE_REFUSED" | "FILE_HARD_LINKED" | "INVALID_FILE_NAME" | "FILE_EXISTS" | "FILE_TOO_LARGE" | "QUOTA_EXCEEDED" | "QUOTA_VMS_EXCEEDED" | "QUOTA_VCPUS_EXCEEDED" | "QUOTA_RAM_EXCEEDED" | "QUOTA_DISK_EXCEEDED" | "QUOTA_NETWORKS_EXCEEDED" | "QUOTA_IMAGES_EXCEEDED" | "RATE_LIMITED" | "CHECKSUM_MISMATCH" | "UPLOAD_INCOMPLETE" | "TOO_MANY_CONSOLES" | "TOO_MANY_STREAMS" | "TOO_MANY_UPLOADS" | "STORAGE_FULL" | "FILES_PATH_MISSING" | "FOLDER_TOO_LARGE" | "USER_FOLDER_REFUSED" | "CEPH_UNAVAILABLE" | "INVALID_SSH_KEY" | "KEY_EXISTS" | "KEY_NOT_FOUND" | "NETWORK_NOT_FOUND" | "NETWORK_EXISTS" | "NETWORK_IN_USE" | "POOL_EXHAUSTED" | "INVALID_RESOLVER" | "ROUTING_OFF" | "CONSOLE_UNAVAILABLE" | "CONSOLE_TICKET_INVALID" | "CONSOLE_TICKETS_THROTTLED" | "VM_NO_DISPLAY" | "WEBSOCKET_REQUIRED" | "WAIT_TIMEOUT" | "INTERNAL";
            details?: {
                [key: string]: unknown;
            };
            hint?: string;
            message: string;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    attachConsole: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Switching Protocols: the console */
            101: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            426: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    listEvents: {
        parameters: {
            query?: {
                all?: boolean;
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                owner?: string;
                /** @description VM name or id */
                vm?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            action: string;
                            actor: {
                                kind: "user" | "scheduler" | "host" | "imagescanner" | "filescanner" | "system";
                                name: string;
                            };
                            code?: string;
                            id: string;
                            message?: string;
                            object: {
                                id?: string;
                                kind: string;
                                name?: string;
                                owner: string;
                            };
                            result: "ok" | "error";
                            /** @description ISO 8601 time */
                            time: string;
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    streamEvents: {
        parameters: {
            query?: {
                all?: boolean;
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                owner?: string;
                /** @description etcd revision to start from (an event id: line of a stream) */
                since?: string;
                /** @description VM name or id */
                vm?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    listFiles: {
        parameters: {
            query?: {
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            id: string;
                            mtimeMs: number;
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner: string;
                            /** @description ISO 8601 time */
                            seenAt: string;
                            sha512: string;
                            sizeBytes: number;
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    uploadFile: {
        parameters: {
            query?: {
                replace?: boolean;
            };
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        name: string;
                        sha512: string;
                        sizeBytes: number;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    deleteFile: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    health: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        ok: boolean;
                    };
                };
            };
        };
    };
    listHosts: {
        parameters: {
            query?: {
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            accel?: string;
                            address: string;
                            alive: boolean;
                            allocationRatio: {
                                cpu: number;
                                disk: number;
                                ram: number;
                            };
                            allowed: {
                                cpu: number;
                                diskBytes: number;
                                ramBytes: number;
                            };
                            capacity: {
                                cpu: number;
                                diskBytes: number;
                                ramBytes: number;
                            };
                            /** @description ISO 8601 time */
                            createdAt: string;
                            drained?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            used: {
                                cpu: number;
                                diskBytes: number;
                                ramBytes: number;
                            };
                            vms: number;
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    addHost: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    address?: string;
                    allocationRatio?: {
                        cpu?: number;
                        disk?: number;
                        ram?: number;
                    };
                    cpu: number;
                    disk: string | number;
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    name: string;
                    ram: string | number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        address: string;
                        allocationRatio?: {
                            cpu: number;
                            disk: number;
                            ram: number;
                        };
                        capacity: {
                            cpu: number;
                            diskBytes: number;
                            ramBytes: number;
                        };
                        /** @description ISO 8601 time */
                        createdAt: string;
                        drained?: boolean;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    removeHost: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    updateHost: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    allocationRatio?: {
                        cpu?: number;
                        disk?: number;
                        ram?: number;
                    };
                    /** @description physical cores */
                    cpu?: number;
                    disk?: string | number;
                    ram?: string | number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        address: string;
                        allocationRatio?: {
                            cpu: number;
                            disk: number;
                            ram: number;
                        };
                        capacity: {
                            cpu: number;
                            diskBytes: number;
                            ramBytes: number;
                        };
                        /** @description ISO 8601 time */
                        createdAt: string;
                        drained?: boolean;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    drainHost: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        address: string;
                        allocationRatio?: {
                            cpu: number;
                            disk: number;
                            ram: number;
                        };
                        capacity: {
                            cpu: number;
                            diskBytes: number;
                            ramBytes: number;
                        };
                        /** @description ISO 8601 time */
                        createdAt: string;
                        drained?: boolean;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    undrainHost: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        address: string;
                        allocationRatio?: {
                            cpu: number;
                            disk: number;
                            ram: number;
                        };
                        capacity: {
                            cpu: number;
                            diskBytes: number;
                            ramBytes: number;
                        };
                        /** @description ISO 8601 time */
                        createdAt: string;
                        drained?: boolean;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    listImageStores: {
        parameters: {
            query?: {
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            /** @description ISO 8601 time */
                            createdAt: string;
                            driver: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            settings: {
                                [key: string]: unknown;
                            };
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    createImageStore: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    driver: string;
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    name: string;
                    settings: {
                        [key: string]: string | boolean | number;
                    };
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        driver: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        settings: {
                            [key: string]: unknown;
                        };
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    listImages: {
        parameters: {
            query?: {
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            /** @description ISO 8601 time */
                            createdAt: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner: string;
                            progress?: number;
                            public: boolean;
                            source?: {
                                fileId: string;
                                name: string;
                                sha512: string;
                            };
                            status: "pending" | "importing" | "ready" | "error" | "deleting";
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                            volume?: {
                                format: "raw" | "qcow2";
                                ref: string;
                                virtualSize: number;
                            };
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    createImage: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description file name (as in `ucloud file list`) or id */
                    file: string;
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    name: string;
                    public?: boolean;
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    store?: string;
                };
            };
        };
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        progress?: number;
                        public: boolean;
                        source?: {
                            fileId: string;
                            name: string;
                            sha512: string;
                        };
                        status: "pending" | "importing" | "ready" | "error" | "deleting";
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        store: string;
                        /** @description ISO 8601 time */
                        updatedAt: string;
                        volume?: {
                            format: "raw" | "qcow2";
                            ref: string;
                            virtualSize: number;
                        };
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getImageOfOwner: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                owner: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        progress?: number;
                        public: boolean;
                        source?: {
                            fileId: string;
                            name: string;
                            sha512: string;
                        };
                        status: "pending" | "importing" | "ready" | "error" | "deleting";
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        store: string;
                        /** @description ISO 8601 time */
                        updatedAt: string;
                        volume?: {
                            format: "raw" | "qcow2";
                            ref: string;
                            virtualSize: number;
                        };
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    deleteImageOfOwner: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                owner: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        progress?: number;
                        public: boolean;
                        source?: {
                            fileId: string;
                            name: string;
                            sha512: string;
                        };
                        status: "pending" | "importing" | "ready" | "error" | "deleting";
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        store: string;
                        /** @description ISO 8601 time */
                        updatedAt: string;
                        volume?: {
                            format: "raw" | "qcow2";
                            ref: string;
                            virtualSize: number;
                        };
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getImage: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description image name, or owner/name */
                ref: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        progress?: number;
                        public: boolean;
                        source?: {
                            fileId: string;
                            name: string;
                            sha512: string;
                        };
                        status: "pending" | "importing" | "ready" | "error" | "deleting";
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        store: string;
                        /** @description ISO 8601 time */
                        updatedAt: string;
                        volume?: {
                            format: "raw" | "qcow2";
                            ref: string;
                            virtualSize: number;
                        };
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    deleteImage: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description image name, or owner/name */
                ref: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        progress?: number;
                        public: boolean;
                        source?: {
                            fileId: string;
                            name: string;
                            sha512: string;
                        };
                        status: "pending" | "importing" | "ready" | "error" | "deleting";
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        store: string;
                        /** @description ISO 8601 time */
                        updatedAt: string;
                        volume?: {
                            format: "raw" | "qcow2";
                            ref: string;
                            virtualSize: number;
                        };
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    listKeys: {
        parameters: {
            query?: {
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            bits: number;
                            /** @description ISO 8601 time */
                            createdAt: string;
                            fingerprint: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner: string;
                            publicKey: string;
                            type: string;
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    addKey: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    name: string;
                    publicKey: string;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        bits: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        fingerprint: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        publicKey: string;
                        type: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        bits: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        fingerprint: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        publicKey: string;
                        type: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    deleteKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    listNetworks: {
        parameters: {
            query?: {
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            /** @description ISO 8601 time */
                            createdAt: string;
                            deleting?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner: string;
                            prefix: string;
                            resolvers?: string[];
                            routed?: boolean;
                            vni: number;
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    createNetwork: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    name: string;
                    resolvers?: string[];
                    routed?: boolean;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        deleting?: boolean;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        prefix: string;
                        resolvers?: string[];
                        routed?: boolean;
                        vni: number;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getNetwork: {
        parameters: {
            query?: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                owner?: string;
            };
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        deleting?: boolean;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        prefix: string;
                        resolvers?: string[];
                        routed?: boolean;
                        vni: number;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    deleteNetwork: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getNetworkRoutes: {
        parameters: {
            query?: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                owner?: string;
            };
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            destination: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            host: string;
                            via?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            vm: string;
                        }[];
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    listStorageDrivers: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": string[];
                };
            };
        };
    };
    listTokens: {
        parameters: {
            query?: {
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                user?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            /** @description ISO 8601 time */
                            createdAt: string;
                            description?: string;
                            /** @description ISO 8601 time */
                            expiresAt?: string;
                            /** @description a token id, as `ucloud token list` shows it */
                            id: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            user: string;
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    createToken: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description ISO 8601 time */
                    expiresAt?: string;
                    expiresIn?: string;
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    name: string;
                    totp?: string;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        info: {
                            /** @description ISO 8601 time */
                            createdAt: string;
                            description?: string;
                            /** @description ISO 8601 time */
                            expiresAt?: string;
                            /** @description a token id, as `ucloud token list` shows it */
                            id: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            user: string;
                        };
                        token: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    revokeToken: {
        parameters: {
            query?: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                user?: string;
            };
            header?: never;
            path: {
                /** @description a token id, as `ucloud token list` shows it */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getTotp: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        enabled: boolean;
                        pending: boolean;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    enableTotp: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        otpauthUri: string;
                        secret: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    disableTotp: {
        parameters: {
            query?: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                user?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description the 6-digit code the authenticator shows now */
                    totp?: string;
                };
            };
        };
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    confirmTotp: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description the 6-digit code the authenticator shows now */
                    totp: string;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        enabled: boolean;
                        pending: boolean;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    listUsers: {
        parameters: {
            query?: {
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            /** @description ISO 8601 time */
                            createdAt: string;
                            disabled?: boolean;
                            /** @description ISO 8601 time */
                            disabledAt?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            role: "admin" | "user";
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    createUser: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    name: string;
                    role?: "admin" | "user";
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        token: string;
                        user: {
                            /** @description ISO 8601 time */
                            createdAt: string;
                            disabled?: boolean;
                            /** @description ISO 8601 time */
                            disabledAt?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            role: "admin" | "user";
                        };
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    deleteUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    updateUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    disabled: boolean;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        disabled?: boolean;
                        /** @description ISO 8601 time */
                        disabledAt?: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        role: "admin" | "user";
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getUserQuota: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        disk: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        files: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        images: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        networks: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        ram: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        rate: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        user: string;
                        vcpus: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        vms: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    setUserQuota: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                name: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    disk?: number | string | null;
                    files?: number | string | null;
                    images?: number | string | null;
                    networks?: number | string | null;
                    ram?: number | string | null;
                    rate?: number | string | null;
                    vcpus?: number | string | null;
                    vms?: number | string | null;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        disk: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        files: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        images: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        networks: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        ram: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        rate: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        user: string;
                        vcpus: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                        vms: {
                            limit: number | "unlimited";
                            source: "default" | "user";
                            used?: number;
                        };
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    listVms: {
        parameters: {
            query?: {
                /** @description every user's VMs (admins) */
                all?: boolean;
                /** @description the `next` of the previous page */
                cursor?: string;
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                host?: string;
                /** @description items per page, 1-1000 (default 100) */
                limit?: number;
                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                owner?: string;
                status?: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        items: {
                            cpu: number;
                            /** @description ISO 8601 time */
                            createdAt: string;
                            desired: "running" | "stopped" | "deleted";
                            diskBytes: number;
                            disks: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            display?: "none" | "vnc";
                            epoch?: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            generation: number;
                            ha?: boolean;
                            haArmed?: boolean;
                            hasUserData?: boolean;
                            hddBytes?: number[];
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            host?: string;
                            id: string;
                            image: {
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                name: string;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                owner?: string;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            };
                            lastFailover?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                fenced?: string[];
                                fencePending?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                from: string;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                recoveredBy?: string;
                                restarted: boolean;
                            };
                            lastMigration?: {
                                address?: string;
                                cancel?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                destination?: string;
                                destinationQemu?: {
                                    accel: string;
                                    cpu?: string;
                                    machine?: string;
                                    pid: number;
                                    qmpSocket: string;
                                    serialLog: string;
                                    /** @description ISO 8601 time */
                                    startedAt: string;
                                };
                                disks?: {
                                    format: "raw" | "qcow2";
                                    name: string;
                                    ref: string;
                                    sizeBytes: number;
                                    standalone?: boolean;
                                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                    store: string;
                                }[];
                                error?: {
                                    /** @description ISO 8601 time */
                                    at: string;
                                    code: string;
                                    message: string;
                                };
                                figures?: {
                                    diskBytes?: number;
                                    downtimeMs: number;
                                    mbps?: number;
                                    ramBytes: number;
                                    setupMs?: number;
                                    totalMs: number;
                                };
                                id: string;
                                mode: "shared" | "copy";
                                nbdPort?: number;
                                phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                                port?: number;
                                progress?: {
                                    diskBytes?: number;
                                    diskTotalBytes?: number;
                                    mbps: number;
                                    ramBytes: number;
                                    ramTotalBytes: number;
                                };
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                requestedBy: string;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                source: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                                tls?: boolean;
                                /** @description ISO 8601 time */
                                updatedAt: string;
                            };
                            lastReboot?: {
                                /** @description ISO 8601 time */
                                at: string;
                                error?: {
                                    /** @description ISO 8601 time */
                                    at: string;
                                    code: string;
                                    message: string;
                                };
                                id: string;
                                mode: "acpi" | "reset" | "start" | "failed";
                            };
                            migration?: {
                                address?: string;
                                cancel?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                destination?: string;
                                destinationQemu?: {
                                    accel: string;
                                    cpu?: string;
                                    machine?: string;
                                    pid: number;
                                    qmpSocket: string;
                                    serialLog: string;
                                    /** @description ISO 8601 time */
                                    startedAt: string;
                                };
                                disks?: {
                                    format: "raw" | "qcow2";
                                    name: string;
                                    ref: string;
                                    sizeBytes: number;
                                    standalone?: boolean;
                                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                    store: string;
                                }[];
                                error?: {
                                    /** @description ISO 8601 time */
                                    at: string;
                                    code: string;
                                    message: string;
                                };
                                figures?: {
                                    diskBytes?: number;
                                    downtimeMs: number;
                                    mbps?: number;
                                    ramBytes: number;
                                    setupMs?: number;
                                    totalMs: number;
                                };
                                id: string;
                                mode: "shared" | "copy";
                                nbdPort?: number;
                                phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                                port?: number;
                                progress?: {
                                    diskBytes?: number;
                                    diskTotalBytes?: number;
                                    mbps: number;
                                    ramBytes: number;
                                    ramTotalBytes: number;
                                };
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                requestedBy: string;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                source: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                                tls?: boolean;
                                /** @description ISO 8601 time */
                                updatedAt: string;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            nics?: {
                                address: string;
                                mac: string;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                network: string;
                                prefix: string;
                                vni: number;
                            }[];
                            observedGeneration: number;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner: string;
                            qemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            ramBytes: number;
                            reason?: string;
                            reboot?: {
                                /** @description ISO 8601 time */
                                at: string;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                by: string;
                                force?: boolean;
                                id: string;
                            };
                            recover?: {
                                /** @description ISO 8601 time */
                                at: string;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                by: string;
                                hostIsOff?: boolean;
                            };
                            status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        }[];
                        next?: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    createVm: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    cpu: number;
                    disk: string | number;
                    display?: "none" | "vnc";
                    ha?: boolean;
                    hdd?: (string | number)[];
                    /** @description image name, or owner/name */
                    image: string;
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    name: string;
                    networks?: string[];
                    ram: string | number;
                    userData?: string;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    deleteVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    updateVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    ha?: boolean;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    createVmConsoleTicket: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /**
                     * @description the VM's VNC screen instead of its serial console: the WebSocket then carries RFB (binary frames)
                     * @enum {string}
                     */
                    display?: "vnc";
                    /** @description watch only: keystrokes are dropped (serial only: QEMU cannot hold a VNC client to viewing, so with display vnc it is refused) */
                    readOnly?: boolean;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        expiresAt: string;
                        /** @description the WebSocket to open on the API: /v1/console */
                        path: string;
                        /** @description the first (text) message on the WebSocket at `path`; it works once, until `expiresAt` */
                        ticket: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getVmConsoleLog: {
        parameters: {
            query?: {
                lines?: number;
            };
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host: string;
                        text: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        vm: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    migrateVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    cancel?: boolean;
                    /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                    to?: string;
                };
            };
        };
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    rebootVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description reset at once, without asking the guest */
                    force?: boolean;
                };
            };
        };
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    recoverVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    hostIsOff?: boolean;
                };
            };
        };
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    resizeVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    cpu?: number;
                    disk?: string | number;
                    ram?: string | number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    startVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    getVmStats: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        at: string;
                        cpuSeconds?: number;
                        disks: {
                            disk: string;
                            readBytes: number;
                            reads: number;
                            writes: number;
                            writtenBytes: number;
                        }[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host: string;
                        memoryRssBytes?: number;
                        nics: {
                            nic: string;
                            receiveBytes: number;
                            receivePackets: number;
                            transmitBytes: number;
                            transmitPackets: number;
                        }[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        vm: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    stopVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description VM name or id */
                ref: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        cpu: number;
                        /** @description ISO 8601 time */
                        createdAt: string;
                        desired: "running" | "stopped" | "deleted";
                        diskBytes: number;
                        disks: {
                            format: "raw" | "qcow2";
                            name: string;
                            ref: string;
                            sizeBytes: number;
                            standalone?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        }[];
                        display?: "none" | "vnc";
                        epoch?: string;
                        error?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            message: string;
                        };
                        generation: number;
                        ha?: boolean;
                        haArmed?: boolean;
                        hasUserData?: boolean;
                        hddBytes?: number[];
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        host?: string;
                        id: string;
                        image: {
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            name: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            owner?: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            store: string;
                        };
                        lastFailover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            code: string;
                            fenced?: string[];
                            fencePending?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            from: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            recoveredBy?: string;
                            restarted: boolean;
                        };
                        lastMigration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        lastReboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            id: string;
                            mode: "acpi" | "reset" | "start" | "failed";
                        };
                        migration?: {
                            address?: string;
                            cancel?: boolean;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            destination?: string;
                            destinationQemu?: {
                                accel: string;
                                cpu?: string;
                                machine?: string;
                                pid: number;
                                qmpSocket: string;
                                serialLog: string;
                                /** @description ISO 8601 time */
                                startedAt: string;
                            };
                            disks?: {
                                format: "raw" | "qcow2";
                                name: string;
                                ref: string;
                                sizeBytes: number;
                                standalone?: boolean;
                                /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                                store: string;
                            }[];
                            error?: {
                                /** @description ISO 8601 time */
                                at: string;
                                code: string;
                                message: string;
                            };
                            figures?: {
                                diskBytes?: number;
                                downtimeMs: number;
                                mbps?: number;
                                ramBytes: number;
                                setupMs?: number;
                                totalMs: number;
                            };
                            id: string;
                            mode: "shared" | "copy";
                            nbdPort?: number;
                            phase: "requested" | "preparing" | "listening" | "transferring" | "completed" | "failed" | "cancelled";
                            port?: number;
                            progress?: {
                                diskBytes?: number;
                                diskTotalBytes?: number;
                                mbps: number;
                                ramBytes: number;
                                ramTotalBytes: number;
                            };
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            requestedBy: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            source: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                            tls?: boolean;
                            /** @description ISO 8601 time */
                            updatedAt: string;
                        };
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        nics?: {
                            address: string;
                            mac: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            network: string;
                            prefix: string;
                            vni: number;
                        }[];
                        observedGeneration: number;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        owner: string;
                        qemu?: {
                            accel: string;
                            cpu?: string;
                            machine?: string;
                            pid: number;
                            qmpSocket: string;
                            serialLog: string;
                            /** @description ISO 8601 time */
                            startedAt: string;
                        };
                        ramBytes: number;
                        reason?: string;
                        reboot?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            force?: boolean;
                            id: string;
                        };
                        recover?: {
                            /** @description ISO 8601 time */
                            at: string;
                            /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                            by: string;
                            hostIsOff?: boolean;
                        };
                        status: "pending" | "scheduled" | "creating" | "starting" | "running" | "migrating" | "stopping" | "stopped" | "deleting" | "error";
                        /** @description ISO 8601 time */
                        updatedAt: string;
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
    whoami: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description ISO 8601 time */
                        createdAt: string;
                        disabled?: boolean;
                        /** @description ISO 8601 time */
                        disabledAt?: string;
                        /** @description 1-63 of a-z, 0-9 and "-", starting with a letter */
                        name: string;
                        role: "admin" | "user";
                    };
                };
            };
            /** @description an error: `code` is stable (switch on it), `message` and `hint` are for people */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorResponse"];
                };
            };
        };
    };
}
